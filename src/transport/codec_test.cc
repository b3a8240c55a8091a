// The wire codec: every message type survives a round trip with all of its fields, and
// what the core does not know (unknown enum values, garbage bytes) is refused.
#include "transport/codec.h"

#include <gtest/gtest.h>

#include <string>

namespace raftkv::transport {
namespace {

using raft::Message;
using raft::MessageType;

// A message with every field set to something distinct.
Message Full(MessageType type) {
  Message m;
  m.type = type;
  m.from = 3;
  m.to = 7;
  m.term = 11;
  m.index = 42;
  m.log_term = 10;
  m.commit = 40;
  m.reject = true;
  m.reject_hint = 39;
  m.context = std::string("ctx\0bytes", 9);
  m.entries.push_back({.term = 10, .index = 43, .type = raft::EntryType::kNormal, .data = "put"});
  m.entries.push_back({.term = 11,
                       .index = 44,
                       .type = raft::EntryType::kConfChange,
                       .data = std::string(3, '\0')});
  m.entries.push_back({.term = 11, .index = 45, .type = raft::EntryType::kNormal, .data = ""});
  return m;
}

bool SameMessage(const Message& a, const Message& b) {
  return a.type == b.type && a.from == b.from && a.to == b.to && a.term == b.term &&
         a.index == b.index && a.log_term == b.log_term && a.entries == b.entries &&
         a.commit == b.commit && a.reject == b.reject && a.reject_hint == b.reject_hint &&
         a.snapshot == b.snapshot && a.context == b.context;
}

Result<Message> RoundTrip(const Message& m) {
  raftkvpb::Message pb;
  EncodeMessage(m, &pb);
  std::string wire;
  EXPECT_TRUE(pb.SerializeToString(&wire));
  raftkvpb::Message back;
  EXPECT_TRUE(back.ParseFromString(wire));
  return DecodeMessage(back);
}

const MessageType kAllTypes[] = {
    MessageType::kHup,
    MessageType::kBeat,
    MessageType::kPropose,
    MessageType::kCheckQuorum,
    MessageType::kAppend,
    MessageType::kAppendResponse,
    MessageType::kVote,
    MessageType::kVoteResponse,
    MessageType::kPreVote,
    MessageType::kPreVoteResponse,
    MessageType::kSnapshot,
    MessageType::kHeartbeat,
    MessageType::kHeartbeatResponse,
    MessageType::kReadIndex,
    MessageType::kReadIndexResponse,
    MessageType::kTimeoutNow,
    MessageType::kTransferLeader,
    MessageType::kUnreachable,
    MessageType::kSnapshotStatus,
};

TEST(CodecTest, EveryMessageTypeRoundTrips) {
  for (MessageType t : kAllTypes) {
    SCOPED_TRACE(raft::MessageTypeName(t));
    Message m = Full(t);
    if (t == MessageType::kSnapshot) {
      m.snapshot = raft::Snapshot{.meta = {.index = 40, .term = 9, .conf = {}}, .data = "image"};
    }
    auto back = RoundTrip(m);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(SameMessage(m, *back));
  }
}

TEST(CodecTest, EmptyMessageRoundTrips) {
  Message m;
  m.type = MessageType::kHeartbeat;
  auto back = RoundTrip(m);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(SameMessage(m, *back));
  EXPECT_FALSE(back->snapshot.has_value());
}

TEST(CodecTest, SnapshotWithJointConfStateRoundTrips) {
  Message m = Full(MessageType::kSnapshot);
  m.entries.clear();
  m.snapshot = raft::Snapshot{};
  m.snapshot->meta.index = 1000;
  m.snapshot->meta.term = 5;
  m.snapshot->meta.conf = {.voters = {1, 2, 3},
                           .voters_outgoing = {1, 2, 4},
                           .learners = {5},
                           .learners_next = {4},
                           .auto_leave = true};
  m.snapshot->data = std::string(1 << 16, 'x') + std::string(5, '\0');
  auto back = RoundTrip(m);
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->snapshot.has_value());
  EXPECT_EQ(back->snapshot->meta, m.snapshot->meta);
  EXPECT_EQ(back->snapshot->data, m.snapshot->data);
}

TEST(CodecTest, SnapshotMessageWithoutSnapshotIsRefused) {
  raftkvpb::Message pb;
  pb.set_type(raftkvpb::MSG_SNAPSHOT);
  auto r = DecodeMessage(pb);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().Is(Status::Code::kCorruption));
}

TEST(CodecTest, UnknownMessageTypeIsRefused) {
  // Values between the known ones, past them, and one that would alias kAppend (10) if it
  // were truncated to the core's one-byte enum.
  for (int v : {4, 9, 23, 29, 32, 255, 256 + 10, -1}) {
    SCOPED_TRACE(v);
    raftkvpb::Message pb;
    pb.set_type(static_cast<raftkvpb::MessageType>(v));
    std::string wire = pb.SerializeAsString();
    raftkvpb::Message back;
    ASSERT_TRUE(back.ParseFromString(wire));  // proto3 keeps unknown enum values
    auto r = DecodeMessage(back);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("unknown message type"), std::string::npos);
  }
}

TEST(CodecTest, UnknownEntryTypeIsRefused) {
  raftkvpb::Message pb;
  EncodeMessage(Full(MessageType::kAppend), &pb);
  pb.mutable_entries(1)->set_type(static_cast<raftkvpb::EntryType>(7));
  auto r = DecodeMessage(pb);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown entry type 7 at index 44"), std::string::npos);
}

TEST(CodecTest, GarbageBytesDoNotParse) {
  // A length-delimited field (entries, tag 7) claiming more bytes than there are.
  const std::string truncated("\x3a\x7f\x01\x02", 4);
  raftkvpb::Message pb;
  EXPECT_FALSE(pb.ParseFromString(truncated));
  // A field with wire type 7, which does not exist.
  EXPECT_FALSE(pb.ParseFromString(std::string("\x0f\x01", 2)));
}

TEST(CodecTest, LocalMessagesAreNotNetworkMessages) {
  EXPECT_FALSE(IsNetworkMessage(MessageType::kHup));
  EXPECT_FALSE(IsNetworkMessage(MessageType::kBeat));
  EXPECT_FALSE(IsNetworkMessage(MessageType::kCheckQuorum));
  EXPECT_FALSE(IsNetworkMessage(MessageType::kUnreachable));
  EXPECT_FALSE(IsNetworkMessage(MessageType::kSnapshotStatus));
  EXPECT_TRUE(IsNetworkMessage(MessageType::kPropose));  // followers forward proposals
  EXPECT_TRUE(IsNetworkMessage(MessageType::kAppend));
  EXPECT_TRUE(IsNetworkMessage(MessageType::kTransferLeader));
}

}  // namespace
}  // namespace raftkv::transport
