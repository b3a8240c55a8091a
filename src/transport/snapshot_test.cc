// Snapshots between real transports: a large image arrives intact in chunks and is
// confirmed; a stream cut short is reported as failed and never delivered. The same with
// images in files: streamed from file to file without holding the image in memory.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "raftkvpb/raft.grpc.pb.h"
#include "storage/crc32c.h"
#include "storage/snapshot_file.h"
#include "transport/tcp_proxy.h"
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

raft::Message SnapshotMsg(raft::NodeId from, raft::NodeId to, size_t size, uint32_t seed) {
  raft::Message m = testing::Msg(raft::MessageType::kSnapshot, from, to, 0);
  m.term = 4;
  m.snapshot.emplace();
  m.snapshot->meta.index = 12345;
  m.snapshot->meta.term = 3;
  m.snapshot->meta.conf.voters = {1, 2, 3};
  m.snapshot->meta.conf.learners = {4};
  std::string data(size, '\0');
  std::mt19937 rng(seed);
  for (size_t i = 0; i + 4 <= size; i += 4) {
    uint32_t v = rng();
    memcpy(&data[i], &v, 4);
  }
  m.snapshot->data = std::move(data);
  return m;
}

TEST(SnapshotTest, TwentyMiBArrivesIntactInChunksWhileHeartbeatsFlow) {
  RecordingHandler ha, hb;
  auto options = TestOptions(1);
  options.snapshot_chunk_bytes = 1 << 20;
  auto a = MustStart(options, &ha);
  auto b = MustStart(TestOptions(2), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));

  const raft::Message snap = SnapshotMsg(1, 2, 20 << 20, 7);
  const auto start = std::chrono::steady_clock::now();
  a->Send({snap});
  // Heartbeats go on their own stream, so they keep arriving while the image is sent.
  for (int i = 1; i <= 20; i++) a->Send({Heartbeat(1, 2, i)});
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }, 15s));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, true}}));
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == 21; }));

  int snapshots = 0;
  for (const raft::Message& m : hb.Messages()) {
    if (m.type != raft::MessageType::kSnapshot) continue;
    snapshots++;
    ASSERT_TRUE(m.snapshot.has_value());
    EXPECT_EQ(m.snapshot->meta, snap.snapshot->meta);
    EXPECT_TRUE(m.snapshot->data == snap.snapshot->data) << "image differs";
    EXPECT_EQ(m.from, 1u);
    EXPECT_EQ(m.to, 2u);
    EXPECT_EQ(m.term, 4u);
  }
  EXPECT_EQ(snapshots, 1);
  auto sent = a->Stats()[2];
  auto received = b->Stats()[1];
  EXPECT_GE(sent.sent_bytes, uint64_t(20 << 20));
  EXPECT_GE(received.received_bytes, uint64_t(20 << 20));
  EXPECT_EQ(sent.sent_messages, 21u);
  EXPECT_EQ(received.received_messages, 21u);
  std::printf("20 MiB snapshot confirmed after %lld ms\n", static_cast<long long>(ms));
}

TEST(SnapshotTest, EmptyImageIsSentAsOneChunk) {
  RecordingHandler ha, hb;
  auto a = MustStart(TestOptions(1), &ha);
  auto b = MustStart(TestOptions(2), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  a->Send({SnapshotMsg(1, 2, 0, 1)});
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }));
  EXPECT_TRUE(ha.SnapshotResults()[0].second);
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == 1; }));
  EXPECT_TRUE(hb.Messages()[0].snapshot->data.empty());
}

TEST(SnapshotTest, SnapshotToDownPeerFails) {
  RecordingHandler ha, hb;
  auto a = MustStart(TestOptions(1), &ha);
  int port = MustStart(TestOptions(2), &hb)->listen_port();
  a->AddPeer(2, Addr(port));
  a->Send({SnapshotMsg(1, 2, 1000, 1)});
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }));
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, false}}));
}

TEST(SnapshotTest, SnapshotRejectedByWrongClusterFails) {
  RecordingHandler ha, hb;
  auto a = MustStart(TestOptions(1, 5), &ha);
  auto b = MustStart(TestOptions(2, 6), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  a->Send({SnapshotMsg(1, 2, 3 << 20, 1)});
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }));
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, false}}));
  EXPECT_EQ(hb.MessageCount(), 0u);
}

// A receiver that reads a few chunks of a snapshot and then waits to be shut down, so the
// test can stop it mid-stream at a known point.
class StallingReceiver final : public raftkvpb::Raft::Service {
 public:
  grpc::Status SendSnapshot(grpc::ServerContext* ctx,
                            grpc::ServerReader<raftkvpb::SnapshotChunk>* reader,
                            raftkvpb::SnapshotAck* ack) override {
    raftkvpb::SnapshotChunk chunk;
    for (int i = 0; i < 3 && reader->Read(&chunk); i++) chunks_++;
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(1ms);
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stopped");
  }
  std::atomic<int> chunks_{0};
};

// A StallingReceiver on a port of its own, and the options of a sender with small chunks.
struct StallingPeer {
  StallingPeer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 100);
    builder.RegisterService(&receiver);
    server = builder.BuildAndStart();
  }
  static Options SenderOptions() {
    auto options = TestOptions(1);
    options.snapshot_chunk_bytes = 64 << 10;
    return options;
  }
  StallingReceiver receiver;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

TEST(SnapshotTest, ReceiverStoppedMidStreamReportsFailure) {
  StallingPeer peer;
  ASSERT_TRUE(peer.server);
  RecordingHandler ha;
  auto a = MustStart(StallingPeer::SenderOptions(), &ha);
  a->AddPeer(2, Addr(peer.port));
  a->Send({SnapshotMsg(1, 2, 8 << 20, 3)});
  for (int i = 0; i < 500 && peer.receiver.chunks_ < 3; i++) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(peer.receiver.chunks_, 3);
  EXPECT_TRUE(ha.SnapshotResults().empty());  // not confirmed: still in flight
  peer.server->Shutdown(std::chrono::system_clock::now());
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }));
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, false}}));
}

TEST(SnapshotTest, ReceiverThatStallsIsAbandonedAfterTheTimeout) {
  StallingPeer peer;  // reads 3 chunks, then neither reads nor answers
  ASSERT_TRUE(peer.server);
  RecordingHandler ha;
  auto options = StallingPeer::SenderOptions();
  options.snapshot_timeout = 100ms;  // + 1 s per MiB: 1.1 s for this image
  auto a = MustStart(options, &ha);
  a->AddPeer(2, Addr(peer.port));
  const auto start = std::chrono::steady_clock::now();
  a->Send({SnapshotMsg(1, 2, 1 << 20, 3)});
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }, 10s));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, false}}));
  EXPECT_GE(waited, 1000ms);
  EXPECT_EQ(peer.receiver.chunks_, 3);
  peer.server->Shutdown(std::chrono::system_clock::now());
}

// A -> freezable proxy -> B, A with small snapshot chunks and a fast keepalive, so that a
// transfer can be cut mid-image and A notices soon after the network thaws.
struct ProxiedPair {
  ProxiedPair(Handler* ha, Handler* hb) {
    auto options = TestOptions(1);
    options.snapshot_chunk_bytes = 64 << 10;
    options.keepalive_interval = 100ms;
    options.keepalive_timeout = 200ms;
    a = MustStart(options, ha);
    b = MustStart(TestOptions(2), hb);
    proxy = std::make_unique<testing::FreezableProxy>(b->listen_port());
    a->AddPeer(2, Addr(proxy->port()));
    b->AddPeer(1, Addr(a->listen_port()));
  }
  // Freezes the network once B has received part of the image; returns what B had then.
  uint64_t FreezeOnceBReceives() {
    for (int i = 0; i < 5000 && b->Stats()[1].received_bytes == 0; i++) {
      std::this_thread::sleep_for(1ms);
    }
    proxy->Freeze(true);
    return b->Stats()[1].received_bytes;
  }

  std::unique_ptr<Transport> a, b;
  std::unique_ptr<testing::FreezableProxy> proxy;
};

TEST(SnapshotTest, RealReceiverStoppedMidImageDeliversNothing) {
  // A -> proxy -> B. Once B has part of the image the proxy freezes, so B is stopped with
  // the image surely incomplete; A learns the stream is gone when the network thaws (or
  // from its keepalive).
  RecordingHandler ha, hb;
  ProxiedPair p(&ha, &hb);
  constexpr size_t kSize = 64 << 20;
  p.a->Send({SnapshotMsg(1, 2, kSize, 9)});
  ASSERT_GT(p.FreezeOnceBReceives(), 0u);
  p.b->Stop();
  EXPECT_LT(p.b->Stats()[1].received_bytes, uint64_t(kSize));
  p.b.reset();
  EXPECT_EQ(hb.MessageCount(), 0u);
  p.proxy->Freeze(false);
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }, 10s));
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, false}}));
  EXPECT_EQ(hb.MessageCount(), 0u);
}

TEST(SnapshotTest, StopWhileSendingIsCleanAndSilent) {
  RecordingHandler ha, hb;
  auto options = TestOptions(1);
  options.snapshot_chunk_bytes = 64 << 10;
  auto a = MustStart(options, &ha);
  auto b = MustStart(TestOptions(2), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  a->Send({SnapshotMsg(1, 2, 32 << 20, 5)});
  for (int i = 0; i < 500 && a->Stats()[2].sent_bytes == 0; i++) std::this_thread::sleep_for(1ms);
  a->Stop();  // sender stops mid-image: no callback after Stop, no crash on either side
  const size_t results = ha.SnapshotResults().size();
  b->Stop();
  EXPECT_EQ(ha.SnapshotResults().size(), results);
  for (const raft::Message& m : hb.Messages()) {
    // Either it made it whole before the stop, or nothing was delivered.
    EXPECT_EQ(m.snapshot->data.size(), size_t(32 << 20));
  }
}

// --- Images in files (the server's mode): streamed from the sender's file into a file on the
// receiver, never held whole in memory ---

// Records like RecordingHandler and receives snapshots into files in `dir`.
class FileHandler : public RecordingHandler {
 public:
  explicit FileHandler(std::string dir) : dir_(std::move(dir)) {}
  Result<std::unique_ptr<storage::SnapshotFileWriter>> NewSnapshotFile(
      const raft::SnapshotMeta& meta) override {
    return storage::SnapshotFileWriter::Create(
        storage::PosixFileSystem(), dir_ + "/recv-" + std::to_string(n_++) + ".tmp", meta);
  }

 private:
  std::string dir_;
  std::atomic<int> n_{0};
};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raftkv-tsnap-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  size_t Files() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(path_)) n += e.is_regular_file();
    return n;
  }

 private:
  std::string path_;
};

// Writes a pseudo-random image of `size` bytes to a snapshot file, 1 MiB at a time; returns
// a snapshot message whose data is the file's descriptor, and the image's CRC32C.
raft::Message FileSnapshotMsg(const std::string& path, size_t size, uint32_t* crc) {
  raft::Message m = SnapshotMsg(1, 2, 0, 0);
  auto w = storage::SnapshotFileWriter::Create(storage::PosixFileSystem(), path, m.snapshot->meta);
  EXPECT_TRUE(w.ok());
  std::mt19937 rng(11);
  std::string chunk(1 << 20, '\0');
  *crc = 0;
  for (size_t off = 0; off < size; off += chunk.size()) {
    chunk.resize(std::min(chunk.size(), size - off));
    for (char& c : chunk) c = static_cast<char>(rng());
    *crc = storage::crc32c::Extend(*crc, chunk.data(), chunk.size());
    EXPECT_TRUE((*w)->Append(chunk).ok());
  }
  EXPECT_TRUE((*w)->Finish().ok());
  m.snapshot->data = storage::EncodeSnapshotFileRef({path, size});
  return m;
}

// The image's CRC32C as read back from a received snapshot's file, in chunks.
uint32_t ReceivedCrc(const raft::Message& m, uint64_t* size) {
  auto ref = storage::DecodeSnapshotFileRef(m.snapshot->data);
  EXPECT_TRUE(ref.ok());
  auto r = storage::SnapshotFileReader::Open(storage::PosixFileSystem(), ref->path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->meta(), m.snapshot->meta);
  uint32_t crc = 0;
  *size = 0;
  EXPECT_TRUE((*r)->ReadData([&](std::string_view c) {
                    crc = storage::crc32c::Extend(crc, c.data(), c.size());
                    *size += c.size();
                    return Status::OK();
                  })
                  .ok());
  return crc;
}

// Resets the peak resident memory to the current one (Linux: clear_refs 5).
void ResetPeakRss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

// A field of /proc/self/status in kB ("VmHWM": peak resident memory since ResetPeakRss,
// "VmRSS": current), in bytes.
uint64_t ProcStatus(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}
uint64_t PeakRss() {
  return ProcStatus("VmHWM");
}

TEST(SnapshotFileTest, FileToFileTransferNeverHoldsTheImage) {
  TempDir src, dst;
  FileHandler hb(dst.path());
  RecordingHandler ha;
  auto a = MustStart(TestOptions(1), &ha);
  auto b = MustStart(TestOptions(2), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  constexpr size_t kSize = 64 << 20;
  uint32_t crc = 0;
  raft::Message snap = FileSnapshotMsg(src.path() + "/image.snap", kSize, &crc);

  ResetPeakRss();
  const uint64_t before = PeakRss();
  // The reset took (else the peak would still be that of earlier, larger tests).
  ASSERT_LE(before, ProcStatus("VmRSS") + (uint64_t{4} << 20));
  a->Send({snap});
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }, 20s));
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, true}}));
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == 1; }));
  const uint64_t growth = PeakRss() - before;
  // Holding the image once on either side would add 64 MiB; chunks in flight and gRPC's
  // buffers (flow-control windows) take 10-16 MiB.
  EXPECT_LT(growth, uint64_t{32} << 20) << "peak RSS grew by " << growth << " bytes";
  std::printf("file-to-file transfer of %zu MiB: peak RSS grew by %.1f MiB\n", kSize >> 20,
              growth / 1048576.0);

  const raft::Message got = hb.Messages()[0];
  ASSERT_TRUE(storage::IsSnapshotFileRef(got.snapshot->data));
  EXPECT_LT(got.snapshot->data.size(), 512u);
  uint64_t size = 0;
  EXPECT_EQ(ReceivedCrc(got, &size), crc);
  EXPECT_EQ(size, kSize);
  EXPECT_EQ(got.snapshot->meta, snap.snapshot->meta);
}

TEST(SnapshotFileTest, FileToMemoryAndMemoryToFileInteroperate) {
  TempDir src, dst;
  FileHandler hb(dst.path());
  RecordingHandler ha;
  auto a = MustStart(TestOptions(1), &ha);
  auto b = MustStart(TestOptions(2), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  // An inline image into a file.
  raft::Message inline_snap = SnapshotMsg(1, 2, 3 << 20, 3);
  a->Send({inline_snap});
  ASSERT_TRUE(hb.WaitFor([&] { return hb.MessagesLocked().size() == 1; }, 10s));
  uint64_t size = 0;
  EXPECT_EQ(ReceivedCrc(hb.Messages()[0], &size),
            storage::crc32c::Value(inline_snap.snapshot->data));
  EXPECT_EQ(size, inline_snap.snapshot->data.size());
  // A file image into memory.
  uint32_t crc = 0;
  raft::Message file_snap = FileSnapshotMsg(src.path() + "/image.snap", 2 << 20, &crc);
  file_snap.from = 2;
  file_snap.to = 1;
  b->Send({file_snap});
  ASSERT_TRUE(ha.WaitFor([&] { return ha.MessagesLocked().size() == 1; }, 10s));
  const raft::Message got = ha.Messages()[0];
  EXPECT_EQ(got.snapshot->data.size(), size_t{2} << 20);
  EXPECT_EQ(storage::crc32c::Value(got.snapshot->data), crc);
}

TEST(SnapshotFileTest, InterruptedTransferLeavesNoFile) {
  TempDir src, dst;
  FileHandler hb(dst.path());
  RecordingHandler ha;
  ProxiedPair p(&ha, &hb);
  uint32_t crc = 0;
  p.a->Send({FileSnapshotMsg(src.path() + "/image.snap", 32 << 20, &crc)});
  ASSERT_GT(p.FreezeOnceBReceives(), 0u);
  p.b->Stop();
  p.b.reset();
  EXPECT_EQ(hb.MessageCount(), 0u);
  EXPECT_EQ(dst.Files(), 0u) << "the partial file is removed";
  p.proxy->Freeze(false);
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }, 10s));
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, false}}));
}

TEST(SnapshotFileTest, MissingSourceFileFailsTheSend) {
  RecordingHandler ha, hb;
  auto a = MustStart(TestOptions(1), &ha);
  auto b = MustStart(TestOptions(2), &hb);
  a->AddPeer(2, Addr(b->listen_port()));
  b->AddPeer(1, Addr(a->listen_port()));
  raft::Message m = SnapshotMsg(1, 2, 0, 0);
  m.snapshot->data = storage::EncodeSnapshotFileRef({"/nonexistent/raftkv/snap.snap", 10});
  a->Send({m});
  ASSERT_TRUE(ha.WaitFor([&] { return !ha.SnapshotResultsLocked().empty(); }, 10s));
  EXPECT_EQ(ha.SnapshotResults(), (std::vector<std::pair<raft::NodeId, bool>>{{2, false}}));
  EXPECT_EQ(hb.MessageCount(), 0u);
}

}  // namespace
}  // namespace raftkv::transport
