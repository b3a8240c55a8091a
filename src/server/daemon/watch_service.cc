// etcdserverpb.Watch over the member's watch hub (src/watch/hub.h), on gRPC's callback API,
// as its raw method: requests arrive as bytes and are parsed here; responses are written as
// bytes built by watch_wire.h, a shared revision's events encoded once for every watcher.
//
// One WatchCall per client stream: requests are read one at a time and handed to the hub's
// Stream (create / cancel / progress); responses are taken from it by the sender threads,
// one write in flight per call. A call never buffers more than the response being written
// (and its fragments): everything else waits in the hub, which bounds it (a slow client's
// watchers fall back to reading history). The calls' shared state lives in a Conn that the
// sender's queue and the hub's wake callback reach by (weak) pointer, so a call may end at
// any time.
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>

#include "api/convert.h"
#include "common/check.h"
#include "server/daemon/services.h"
#include "server/daemon/watch_wire.h"
#include "watch/hub.h"

namespace raftkv::server::daemon {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

namespace {

// Responses taken from the hub at once by a call's sender (written one after another, all but
// the last with gRPC's buffer hint: see the end of Pump).
constexpr size_t kResponsesPerVisit = 128;

// Unsent answers to a client's requests (watch::Stream::control_backlog) at which the call
// stops reading its requests until the sender has taken some: etcd's control channel holds
// 16 and its receive loop blocks on it, so gRPC's flow control holds back a client that sends
// creates and cancels without reading the answers.
constexpr size_t kMaxControlBacklog = 16;

// etcd's minimum progress notification interval (v3rpc minWatchProgressInterval).
constexpr std::chrono::milliseconds kMinProgressInterval{100};

// Go's name of a gRPC code, as etcd's cancel reasons spell it.
const char* GoCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::PERMISSION_DENIED: return "PermissionDenied";
    case grpc::StatusCode::UNAUTHENTICATED: return "Unauthenticated";
    case grpc::StatusCode::INVALID_ARGUMENT: return "InvalidArgument";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FailedPrecondition";
    default: return "Unknown";
  }
}

// The permission check on create (src/auth/README.md): etcd's isWatchPermitted resolves the
// stream's credentials again (a token may have expired or been revoked meanwhile) and checks
// the range against the caller's current roles; a refusal is answered created + canceled,
// watch id -1, with the error as etcd 3.4 words it: the gRPC error's full text ("rpc error:
// code = PermissionDenied desc = etcdserver: permission denied"). The range checked is the
// one watched: a from-key watch needs every key from its key on (etcd 3.4 checks only the
// key itself there). Without auth every create is permitted.
Status CheckCreatePermitted(const auth::Store& auth, const auth::Credentials& creds,
                            const watch::WatchSpec& spec) {
  Result<auth::AuthInfo> who = auth.Resolve(creds);
  Status s = who.ok() ? auth.CheckRange(*who, spec.keys.key, spec.keys.end) : who.status();
  if (s.ok()) return s;
  grpc::Status g = api::ToGrpcStatus(s);
  return Status::FailedPrecondition(std::string("rpc error: code = ") + GoCodeName(g.error_code()) +
                                    " desc = " + g.error_message());
}

// etcd's normalisation at the edge (v3rpc recvLoop): an empty key is "\0", the smallest
// key; range_end "\0" means every key >= key; unknown filter values are ignored.
watch::WatchSpec SpecOf(const etcdserverpb::WatchCreateRequest& c) {
  watch::WatchSpec s;
  s.keys.key = c.key().empty() ? std::string(1, '\0') : c.key();
  s.keys.end = c.range_end();
  s.start_revision = c.start_revision();
  s.prev_kv = c.prev_kv();
  s.progress_notify = c.progress_notify();
  s.fragment = c.fragment();
  for (int f : c.filters()) {
    if (f == etcdserverpb::WatchCreateRequest::NOPUT) s.no_put = true;
    if (f == etcdserverpb::WatchCreateRequest::NODELETE) s.no_delete = true;
  }
  return s;
}

// Appends the message's bytes, as gRPC would serialize it.
void PushSerialized(const WatchResponse& m, std::deque<grpc::ByteBuffer>* out) {
  bool own = false;
  grpc::Status s =
      grpc::SerializationTraits<WatchResponse>::Serialize(m, &out->emplace_back(), &own);
  RAFTKV_CHECK(s.ok(), "a WatchResponse always serializes");
}

// etcd's sendFragments: a response of 2+ events at or above the limit goes out in pieces,
// each below it where possible (at least one event each), all but the last marked fragment.
void Fragment(WatchResponse whole, size_t limit, std::deque<grpc::ByteBuffer>* out) {
  if (whole.ByteSizeLong() < limit || whole.events_size() < 2) {
    PushSerialized(whole, out);
    return;
  }
  WatchResponse base = whole;
  base.clear_events();
  base.set_fragment(true);
  int i = 0;
  while (i < whole.events_size()) {
    WatchResponse cur = base;
    while (i < whole.events_size()) {
      *cur.add_events() = whole.events(i);
      if (cur.events_size() > 1 && cur.ByteSizeLong() >= limit) {
        cur.mutable_events()->RemoveLast();
        break;
      }
      ++i;
    }
    if (i == whole.events_size()) cur.set_fragment(false);
    PushSerialized(cur, out);
  }
}

}  // namespace

// What a call and the sender threads share. `mu` orders everything done to the reactor.
struct WatchService::Conn {
  std::mutex mu;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* reactor = nullptr;  // null once done
  std::shared_ptr<watch::Stream> stream;
  // Responses taken from the hub, written from `next` on (encoded one at a time, when
  // written: they hold the store's records, not copies). Kept for its capacity.
  std::vector<watch::Response> queued;
  size_t next = 0;
  bool hasQueued() const { return next < queued.size(); }
  std::deque<grpc::ByteBuffer> pending;  // fragments of the response being sent
  // The bytes in flight (live until OnWriteDone).
  grpc::ByteBuffer writing_msg;
  bool writing = false;
  // The call's first write went out (it carries the initial metadata: never hinted, below).
  bool wrote_first = false;
  bool finished = false;
  // Reading requests is paused at kMaxControlBacklog; the sender resumes it into `request`.
  bool read_paused = false;
  grpc::ByteBuffer* request = nullptr;
  bool posted = false;  // queued for a sender thread (guarded by the sender's mutex)

  void FinishLocked(grpc::Status status) {
    if (finished || reactor == nullptr) return;
    finished = true;
    reactor->Finish(std::move(status));
  }
};

// Sender threads: run Pump for calls that have something to send; tick progress
// notifications.
class WatchService::Sender {
 public:
  Sender(WatchService* service, std::chrono::milliseconds progress_interval)
      : service_(service), interval_(std::max(progress_interval, kMinProgressInterval)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Sender() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void Post(const std::shared_ptr<Conn>& c) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (c->posted || stop_) return;
      c->posted = true;
      queue_.push_back(c);
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    auto next_tick = std::chrono::steady_clock::now() + interval_;
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      if (queue_.empty()) {
        cv_.wait_until(l, next_tick, [this] { return stop_ || !queue_.empty(); });
      }
      if (stop_) break;
      if (std::chrono::steady_clock::now() >= next_tick) {
        next_tick = std::chrono::steady_clock::now() + interval_;
        l.unlock();
        service_->server_->WatchHub().NotifyProgress();
        l.lock();
        continue;
      }
      if (queue_.empty()) continue;
      std::shared_ptr<Conn> c = std::move(queue_.front());
      queue_.pop_front();
      c->posted = false;
      l.unlock();
      service_->Pump(c);
      c.reset();
      l.lock();
    }
  }

  WatchService* service_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Conn>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// The reactor of one Watch call.
class WatchService::Call final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Call(WatchService* service, grpc::CallbackServerContext* ctx)
      : service_(service), conn_(std::make_shared<Conn>()) {
    conn_->reactor = this;
    conn_->request = &request_bytes_;
    std::weak_ptr<Conn> weak = conn_;
    // etcd: a client asking for a leader (clientv3.WithRequireLeader, as etcdctl watch does)
    // is refused at once by a member that has none, and cancelled when the member has been
    // without one for long (require_leader.h).
    if (RequiresLeader(ctx)) {
      if (!service_->member_->has_leader.load()) {
        std::lock_guard<std::mutex> l(conn_->mu);
        conn_->FinishLocked(NoLeaderStatus());
        return;
      }
      leader_token_ = service_->member_->leader_streams.Add([weak] {
        if (auto c = weak.lock()) {
          std::lock_guard<std::mutex> l(c->mu);
          c->FinishLocked(NoLeaderStatus());
        }
      });
    }
    Sender* sender = service_->sender_.get();
    conn_->stream = service_->server_->WatchHub().OpenStream([weak, sender] {
      if (auto c = weak.lock()) sender->Post(c);
    });
    // Auth: the stream's credentials, checked on every create. The first request is read once
    // they resolve: a token handed out by an entry this member has not applied yet (the
    // client logged in through another member) is waited for, as etcd does.
    creds_ = CredentialsOf(ctx, service_->member_);
    std::shared_ptr<Conn> conn = conn_;
    service_->server_->ResolveCaller(creds_, [conn, this](const Result<auth::AuthInfo>&) {
      std::lock_guard<std::mutex> l(conn->mu);
      if (conn->reactor != nullptr) StartRead(&request_bytes_);  // else the call is gone
    });
  }

  void OnReadDone(bool ok) override {
    // A client that half-closes keeps receiving events, as etcd's stream does (it ends when
    // the client cancels the call).
    if (!ok) return;
    grpc::Status parsed =
        grpc::SerializationTraits<WatchRequest>::Deserialize(&request_bytes_, &request_);
    if (!parsed.ok()) {
      // What gRPC-Go's server (etcd) answers a request it cannot decode: the call ends.
      std::lock_guard<std::mutex> l(conn_->mu);
      conn_->FinishLocked(
          grpc::Status(grpc::StatusCode::INTERNAL,
                       "grpc: error unmarshalling request: " + parsed.error_message()));
      return;
    }
    std::shared_ptr<watch::Stream> stream = conn_->stream;
    size_t backlog = 0;
    switch (request_.request_union_case()) {
      case WatchRequest::kCreateRequest: {
        const auto& c = request_.create_request();
        watch::WatchSpec spec = SpecOf(c);
        Status permitted = CheckCreatePermitted(service_->server_->auth(), creds_, spec);
        if (!permitted.ok()) {
          backlog = stream->Refuse(permitted.message());
        } else {
          backlog = stream->Create(c.watch_id(), std::move(spec));
        }
        break;
      }
      case WatchRequest::kCancelRequest:
        backlog = stream->Cancel(request_.cancel_request().watch_id());
        break;
      case WatchRequest::kProgressRequest: backlog = stream->RequestProgress(); break;
      case WatchRequest::REQUEST_UNION_NOT_SET: break;  // etcd ignores what it does not know
    }
    request_.Clear();
    std::lock_guard<std::mutex> l(conn_->mu);
    // Checked again under the lock: the sender may have taken answers since (it resumes
    // reading only after taking them under this lock, so a pause is never missed).
    if (backlog >= kMaxControlBacklog && stream->control_backlog() >= kMaxControlBacklog) {
      conn_->read_paused = true;
      return;
    }
    StartRead(&request_bytes_);
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> l(conn_->mu);
      conn_->writing = false;
      if (!ok) {
        conn_->FinishLocked(
            grpc::Status(grpc::StatusCode::CANCELLED, "etcdserver: watch canceled"));
        return;
      }
    }
    // The next response goes out from here, without a hop to the sender thread: taking
    // queued events is cheap, and a history read is bounded (HubOptions::read_budget).
    service_->Pump(conn_);
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> l(conn_->mu);
    conn_->FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "etcdserver: watch canceled"));
  }

  void OnDone() override {
    if (leader_token_ != 0) service_->member_->leader_streams.Remove(leader_token_);
    {
      std::lock_guard<std::mutex> l(conn_->mu);
      conn_->reactor = nullptr;
      conn_->finished = true;
      if (conn_->stream) conn_->stream->Close();
    }
    delete this;
  }

 private:
  WatchService* service_;
  std::shared_ptr<Conn> conn_;
  auth::Credentials creds_;
  grpc::ByteBuffer request_bytes_;  // read into, then parsed into request_
  WatchRequest request_;
  uint64_t leader_token_ = 0;  // registered with MemberState::leader_streams
};

WatchService::WatchService(EtcdServer* server, ServiceLimits limits, const MemberState* member,
                           std::chrono::milliseconds progress_interval)
    : server_(server), limits_(limits), member_(member) {
  sender_ = std::make_unique<Sender>(this, progress_interval);
}

WatchService::~WatchService() = default;

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* WatchService::Watch(
    grpc::CallbackServerContext* ctx) {
  return new Call(this, ctx);
}

// Sender thread (or OnWriteDone): writes the call's next response, if it has one and no
// write is in flight.
void WatchService::Pump(const std::shared_ptr<Conn>& c) {
  std::lock_guard<std::mutex> l(c->mu);
  if (c->finished || c->writing || c->stream == nullptr) return;
  if (c->pending.empty() && !c->hasQueued()) {
    // Several responses per visit to the hub: one lock for many watchers' events.
    c->queued.clear();
    c->next = 0;
    watch::Stream::Step step = c->stream->NextBatch(&c->queued, kResponsesPerVisit);
    if (c->read_paused && c->stream->control_backlog() < kMaxControlBacklog) {
      c->read_paused = false;  // answers were taken: read the client's next request
      c->reactor->StartRead(c->request);
    }
    if (step == watch::Stream::Step::kIdle) return;
    if (step == watch::Stream::Step::kAgain) {
      sender_->Post(c);  // history was read; let other calls have a turn first
      return;
    }
  }
  if (!c->pending.empty()) {
    c->writing_msg.Swap(&c->pending.front());
    c->pending.pop_front();
  } else {
    const watch::Response& r = c->queued[c->next++];
    if (r.fragment) {
      // etcd fragments at its request limit plus gRPC's overhead allowance.
      WatchResponse whole;
      FillWatchResponse(Header(), r, &whole);
      Fragment(std::move(whole),
               static_cast<size_t>(limits_.max_request_bytes + kGrpcOverheadBytes), &c->pending);
      c->writing_msg.Swap(&c->pending.front());
      c->pending.pop_front();
    } else {
      EncodeWatchResponse(Header(), r, &c->writing_msg);
    }
  }
  c->writing = true;
  // More responses are taken already and follow at once: gRPC may keep this one in its
  // buffer and send them together, one sendmsg for a batch (as gRPC-Go's writer batches
  // etcd's). chttp2 completes a hinted write at once while under 64 KiB are buffered
  // (GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE), and the batch's last write, not hinted, sends them.
  // Never the call's first write: it carries the initial metadata, and chttp2 starts no
  // write for metadata sent with a hinted message while the batch completes only once the
  // metadata is written, so it would wait for a write that waits for it (the hang of
  // e2e_watch test_etcdctl_watch_from_a_compacted_revision_is_cancelled, 290e93d).
  grpc::WriteOptions options;
  if (c->wrote_first && (!c->pending.empty() || c->hasQueued())) options.set_buffer_hint();
  c->wrote_first = true;
  c->reactor->StartWrite(&c->writing_msg, options);
}

api::HeaderInfo WatchService::Header() const {
  return api::HeaderInfo{server_->cluster_id(), server_->member_id(), server_->term()};
}

}  // namespace raftkv::server::daemon
