// The peer service as a misbehaving or foreign client sees it: raw gRPC calls against a
// real transport. Everything refused ends the call with an error status and delivers
// nothing; well-formed calls on the same connection are accepted, so the refusals are not
// an accident of the test client.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "raftkvpb/raft.grpc.pb.h"
#include "storage/crc32c.h"
#include "transport/codec.h"
#include "transport/test_util.h"
#include "transport/transport.h"

namespace raftkv::transport {
namespace {

using namespace std::chrono_literals;
using testing::Addr;
using testing::Heartbeat;
using testing::MustStart;
using testing::RecordingHandler;
using testing::TestOptions;

constexpr uint64_t kCluster = 0xC1;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    b_ = MustStart(TestOptions(2, kCluster), &hb_);
    b_->AddPeer(1, "127.0.0.1:1");  // known sender; B never needs to reach it here
    channel_ = grpc::CreateChannel(Addr(b_->listen_port()), grpc::InsecureChannelCredentials());
    stub_ = raftkvpb::Raft::NewStub(channel_);
  }

  static raftkvpb::StreamHeader Header(uint64_t cluster = kCluster, uint64_t from = 1,
                                       uint64_t to = 2) {
    raftkvpb::StreamHeader h;
    h.set_cluster_id(cluster);
    h.set_from(from);
    h.set_to(to);
    return h;
  }

  // Opens a message stream with `header`, sends `frames`, and returns the final status.
  grpc::Status StreamFrames(const raftkvpb::StreamHeader& header,
                            std::vector<raftkvpb::MessageBatch> frames) {
    grpc::ClientContext ctx;
    auto stream = stub_->Stream(&ctx);
    raftkvpb::MessageBatch first;
    *first.mutable_header() = header;
    raftkvpb::StreamAccept accept;
    if (stream->Write(first) && stream->Read(&accept)) {
      EXPECT_EQ(accept.member_id(), 2u);
      for (const auto& f : frames) {
        if (!stream->Write(f)) break;
      }
      stream->WritesDone();
    }
    return stream->Finish();
  }

  static raftkvpb::MessageBatch Frame(const raft::Message& m) {
    raftkvpb::MessageBatch f;
    EncodeMessage(m, f.add_messages());
    return f;
  }

  // Sends a snapshot image in chunks of `chunk` bytes; `tamper` may alter each chunk.
  grpc::Status SendImage(const std::string& image, size_t chunk,
                         const std::function<void(raftkvpb::SnapshotChunk*)>& tamper = {},
                         bool finish = true) {
    grpc::ClientContext ctx;
    raftkvpb::SnapshotAck ack;
    auto writer = stub_->SendSnapshot(&ctx, &ack);
    raft::Message m = testing::Msg(raft::MessageType::kSnapshot, 1, 2, 0);
    m.snapshot.emplace();
    m.snapshot->meta.index = 77;
    size_t offset = 0;
    do {
      raftkvpb::SnapshotChunk c;
      if (offset == 0) {
        *c.mutable_header() = Header();
        EncodeMessage(m, c.mutable_message());
        c.set_total_size(image.size());
      }
      size_t n = std::min(chunk, image.size() - offset);
      c.set_offset(offset);
      c.set_data(image.substr(offset, n));
      offset += n;
      if (offset == image.size()) {
        c.set_last(true);
        c.set_crc32c(storage::crc32c::Value(image));
      }
      if (tamper) tamper(&c);
      if (!writer->Write(c)) break;
    } while (offset < image.size() && (finish || offset < image.size() / 2));
    if (!finish) {
      ctx.TryCancel();
    } else {
      writer->WritesDone();
    }
    grpc::Status st = writer->Finish();
    if (st.ok()) {
      EXPECT_EQ(ack.received_bytes(), image.size());
    }
    return st;
  }

  RecordingHandler hb_;
  std::unique_ptr<Transport> b_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<raftkvpb::Raft::Stub> stub_;
};

TEST_F(ServiceTest, WellFormedStreamIsDelivered) {
  grpc::Status st = StreamFrames(Header(), {Frame(Heartbeat(1, 2, 1)), Frame(Heartbeat(1, 2, 2))});
  EXPECT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(hb_.WaitFor([&] { return hb_.MessagesLocked().size() == 2; }));
  EXPECT_EQ(b_->Stats()[1].received_messages, 2u);
}

// A sender that reconnected: frames still arriving on its old stream are dropped, never
// delivered after the messages it sends on the new one.
TEST_F(ServiceTest, NewerStreamFromTheSameSenderSupersedesTheOlder) {
  using Stream = grpc::ClientReaderWriter<raftkvpb::MessageBatch, raftkvpb::StreamAccept>;
  auto open = [&](grpc::ClientContext* ctx) {
    std::unique_ptr<Stream> s = stub_->Stream(ctx);
    raftkvpb::MessageBatch first;
    *first.mutable_header() = Header();
    raftkvpb::StreamAccept accept;
    EXPECT_TRUE(s->Write(first) && s->Read(&accept));
    return s;
  };
  auto delivered = [&](size_t n) {
    return hb_.WaitFor([&] { return hb_.MessagesLocked().size() == n; });
  };
  grpc::ClientContext old_ctx, new_ctx;
  auto old_stream = open(&old_ctx);
  ASSERT_TRUE(old_stream->Write(Frame(Heartbeat(1, 2, 1))));
  ASSERT_TRUE(delivered(1));
  auto new_stream = open(&new_ctx);
  ASSERT_TRUE(new_stream->Write(Frame(Heartbeat(1, 2, 2))));
  ASSERT_TRUE(delivered(2));
  old_stream->Write(Frame(Heartbeat(1, 2, 3)));  // the receiver may have ended it already
  old_stream->WritesDone();
  EXPECT_EQ(old_stream->Finish().error_code(), grpc::StatusCode::ABORTED);
  ASSERT_TRUE(new_stream->Write(Frame(Heartbeat(1, 2, 4))));
  new_stream->WritesDone();
  EXPECT_TRUE(new_stream->Finish().ok());
  std::vector<uint64_t> seqs;
  for (const raft::Message& m : hb_.Messages()) seqs.push_back(m.index);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 4}));
}

TEST_F(ServiceTest, WrongClusterIdIsRefused) {
  grpc::Status st = StreamFrames(Header(kCluster + 1), {Frame(Heartbeat(1, 2, 1))});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("cluster id mismatch"), std::string::npos);
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

TEST_F(ServiceTest, UnknownSenderIsRefused) {
  grpc::Status st = StreamFrames(Header(kCluster, 5), {Frame(Heartbeat(5, 2, 1))});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Member 0 ("none") is never a sender.
  st = StreamFrames(Header(kCluster, 0), {});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

TEST_F(ServiceTest, StreamForAnotherMemberIsRefused) {
  grpc::Status st = StreamFrames(Header(kCluster, 1, 3), {Frame(Heartbeat(1, 2, 1))});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

TEST_F(ServiceTest, BadMessagesEndTheStream) {
  struct Case {
    const char* name;
    std::function<void(raftkvpb::Message*)> tamper;
  };
  const Case cases[] = {
      {"to another member", [](raftkvpb::Message* m) { m->set_to(3); }},
      {"from another member than the stream's", [](raftkvpb::Message* m) { m->set_from(3); }},
      {"unknown type", [](raftkvpb::Message* m) { m->set_type(raftkvpb::MessageType(99)); }},
      {"local type", [](raftkvpb::Message* m) { m->set_type(raftkvpb::MSG_HUP); }},
      {"snapshot on the message stream",
       [](raftkvpb::Message* m) {
         m->set_type(raftkvpb::MSG_SNAPSHOT);
         m->mutable_snapshot()->mutable_meta()->set_index(5);
       }},
      {"unknown entry type",
       [](raftkvpb::Message* m) {
         m->set_type(raftkvpb::MSG_APPEND);
         m->add_entries()->set_type(raftkvpb::EntryType(5));
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    // A good message first in the same batch: the batch is refused as a whole.
    raftkvpb::MessageBatch f = Frame(Heartbeat(1, 2, 1));
    EncodeMessage(Heartbeat(1, 2, 2), f.add_messages());
    c.tamper(f.mutable_messages(1));
    grpc::Status st = StreamFrames(Header(), {f});
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

TEST_F(ServiceTest, GarbageBytesAreRefused) {
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  auto call = generic.PrepareCall(&ctx, "/raftkvpb.Raft/Stream", &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  grpc::Slice slice(std::string("\x0f\xff\xff garbage, not a MessageBatch"));
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  grpc::Status st;
  call->Finish(&st, reinterpret_cast<void*>(4));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_FALSE(st.ok());
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  EXPECT_EQ(hb_.MessageCount(), 0u);
  // The server is still fine.
  EXPECT_TRUE(StreamFrames(Header(), {Frame(Heartbeat(1, 2, 1))}).ok());
}

TEST_F(ServiceTest, CompleteSnapshotIsDeliveredOnce) {
  std::string image(300000, 'q');
  grpc::Status st = SendImage(image, 4096);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto msgs = hb_.Messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].snapshot->data, image);
  EXPECT_EQ(msgs[0].snapshot->meta.index, 77u);
}

TEST_F(ServiceTest, InterruptedSnapshotIsDiscarded) {
  grpc::Status st = SendImage(std::string(300000, 'q'), 4096, {}, /*finish=*/false);
  EXPECT_FALSE(st.ok());
  std::this_thread::sleep_for(50ms);  // let the server's handler see the cancellation
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

TEST_F(ServiceTest, SnapshotWithBadChecksumIsRefused) {
  grpc::Status st = SendImage(std::string(10000, 'q'), 4096, [](raftkvpb::SnapshotChunk* c) {
    if (c->last()) c->set_crc32c(c->crc32c() ^ 1);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DATA_LOSS);
  // A flipped byte in the middle of the image, with the sender's checksum.
  st = SendImage(std::string(10000, 'q'), 4096, [](raftkvpb::SnapshotChunk* c) {
    if (c->offset() == 4096) (*c->mutable_data())[7] ^= 1;
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

TEST_F(ServiceTest, SnapshotWithGapOrOverrunIsRefused) {
  grpc::Status st = SendImage(std::string(10000, 'q'), 4096, [](raftkvpb::SnapshotChunk* c) {
    if (c->offset() == 4096) c->set_offset(4097);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  st = SendImage(std::string(10000, 'q'), 4096, [](raftkvpb::SnapshotChunk* c) {
    if (c->has_header()) c->set_total_size(5000);  // more data than announced
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  st = SendImage(std::string(10000, 'q'), 4096, [](raftkvpb::SnapshotChunk* c) {
    if (c->has_header()) c->set_total_size(20000);  // ends before the announced size
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

TEST_F(ServiceTest, SnapshotStreamMustCarryASnapshotMessage) {
  grpc::Status st = SendImage(std::string(100, 'q'), 4096, [](raftkvpb::SnapshotChunk* c) {
    if (c->has_header()) c->mutable_message()->set_type(raftkvpb::MSG_APPEND);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  st = SendImage(std::string(100, 'q'), 4096, [](raftkvpb::SnapshotChunk* c) {
    if (c->has_header()) c->mutable_header()->set_cluster_id(kCluster + 1);
  });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(hb_.MessageCount(), 0u);
}

}  // namespace
}  // namespace raftkv::transport
