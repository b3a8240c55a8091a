#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <thread>

#include "api/session_metadata.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "raftkvpb/session.grpc.pb.h"

namespace raftkv::client {

using Clock = std::chrono::steady_clock;

struct Client::Endpoint {
  std::string target;  // host:port
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Cluster::Stub> cluster;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
  std::unique_ptr<raftkvpb::Session::Stub> session;

  // A fresh channel. Used again after a connection failure too: gRPC 1.51 keeps a channel
  // whose connection failed in TRANSIENT_FAILURE for up to ~10 s even after the member is
  // back, while a new channel (with its own subchannels) connects at its first call.
  void Dial() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    kv = etcdserverpb::KV::NewStub(channel);
    cluster = etcdserverpb::Cluster::NewStub(channel);
    maintenance = etcdserverpb::Maintenance::NewStub(channel);
    session = raftkvpb::Session::NewStub(channel);
  }
};

namespace {

// "http://127.0.0.1:2379" -> "127.0.0.1:2379" (gRPC targets carry no scheme).
std::string Target(const std::string& endpoint) {
  for (const char* scheme : {"http://", "https://"}) {
    std::string s(scheme);
    if (endpoint.rfind(s, 0) == 0) return endpoint.substr(s.size());
  }
  return endpoint;
}

KeyValue FromProto(const mvccpb::KeyValue& kv) {
  return KeyValue{kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version()};
}

// Wraps a typed unary call as an Attempt: request in, serialized response out.
template <typename Resp, typename Call>
auto Unary(Call call) {
  return [call](auto& ep, grpc::ClientContext& ctx, std::string* answer) {
    Resp resp;
    grpc::Status s = call(ep, ctx, &resp);
    if (s.ok()) resp.SerializeToString(answer);
    return s;
  };
}

template <typename Resp>
Result<Resp> Parse(const std::string& answer) {
  Resp resp;
  if (!resp.ParseFromString(answer)) return Status::Corruption("unparsable response");
  return resp;
}

}  // namespace

Client::Client(ClientOptions options)
    : options_(std::move(options)),
      backoff_(options_.backoff_initial, options_.backoff_max, options_.seed) {}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.endpoints.empty())
    return raftkv::Status::InvalidArgument("client: no endpoints given");
  std::unique_ptr<Client> c(new Client(std::move(options)));
  for (const std::string& e : c->options_.endpoints) {
    auto ep = std::make_unique<Endpoint>();
    ep->target = Target(e);
    if (ep->target.empty()) return raftkv::Status::InvalidArgument("client: empty endpoint");
    ep->Dial();
    c->endpoints_.push_back(std::move(ep));
  }
  if (c->options_.exactly_once) {
    std::lock_guard<std::mutex> lock(c->mu_);
    RAFTKV_RETURN_IF_ERROR(c->Register());
  }
  return c;
}

raftkv::Status Client::Register() {
  std::string answer;
  // Registering twice only wastes an id, so it is retried like a read.
  RAFTKV_RETURN_IF_ERROR(Invoke(
      Kind::kRead, Unary<raftkvpb::RegisterResponse>([](Endpoint& ep, auto& ctx, auto* resp) {
        return ep.session->Register(&ctx, raftkvpb::RegisterRequest(), resp);
      }),
      &answer));
  Result<raftkvpb::RegisterResponse> resp = Parse<raftkvpb::RegisterResponse>(answer);
  if (!resp.ok()) return resp.status();
  if (resp->client_id() == 0)
    return raftkv::Status::Corruption("client: server assigned client id 0");
  client_id_ = resp->client_id();
  return raftkv::Status::OK();
}

std::string Client::current_endpoint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return endpoints_[current_]->target;
}

void Client::NextEndpoint() {
  current_ = (current_ + 1) % endpoints_.size();
}

raftkv::Status Client::Invoke(Kind kind, const Attempt& attempt, std::string* answer,
                              Write* write) {
  const auto deadline = Clock::now() + options_.call_timeout;
  // Once an attempt of a write may have been applied, the server's session table is all
  // that keeps a retry from applying it twice.
  bool maybe_applied = false;
  grpc::Status last;
  for (;;) {
    Endpoint& ep = *endpoints_[current_];
    grpc::ClientContext ctx;
    // gRPC takes system-clock deadlines; the call's own deadline is on the steady clock.
    auto left = std::min<Clock::duration>(deadline - Clock::now(), options_.rpc_timeout);
    ctx.set_deadline(std::chrono::system_clock::now() + left);
    if (write != nullptr && client_id_ != 0) {
      ctx.AddMetadata(api::kMetaClientId, std::to_string(client_id_));
      ctx.AddMetadata(api::kMetaSeq, std::to_string(write->seq));
      ctx.AddMetadata(api::kMetaAcked, std::to_string(write->acked));
    }
    last = attempt(ep, ctx, answer);
    switch (Classify(last)) {
      case Disposition::kDone: backoff_.Reset(); return raftkv::Status::OK();
      case Disposition::kFatal: return FromGrpc(last);
      case Disposition::kSessionExpired:
        if (write == nullptr || maybe_applied) {
          return raftkv::Status::Unavailable(
              "client: session expired while retrying a write whose "
              "outcome is unknown: " +
              last.error_message());
        }
        // Nothing of this write was applied under the old session: a new one may send it.
        RAFTKV_RETURN_IF_ERROR(Register());
        write->seq = next_seq_++;
        write->acked = write->seq - 1;
        continue;
      case Disposition::kRetryAmbiguous:
        if (write != nullptr && client_id_ == 0) return FromGrpc(last);
        maybe_applied = true;
        break;
      case Disposition::kRetryNotApplied: break;
    }
    // No server answered at all (not an etcdserver error): reconnect from scratch next time.
    if (last.error_code() == grpc::StatusCode::UNAVAILABLE &&
        last.error_message().rfind("etcdserver:", 0) != 0) {
      ep.Dial();
    }
    NextEndpoint();
    auto wait = backoff_.Next();
    if (Clock::now() + wait >= deadline) {
      return raftkv::Status::Unavailable("client: no member answered within " +
                                         std::to_string(options_.call_timeout.count()) +
                                         " ms; last error: " + last.error_message());
    }
    std::this_thread::sleep_for(wait);
  }
}

Result<std::string> Client::RunWrite(Attempt attempt) {
  Write write{std::move(attempt), next_seq_++, settled_};
  std::string answer;
  raftkv::Status s = Invoke(Kind::kWrite, write.attempt, &answer, &write);
  // Answered or abandoned: this client never sends the write again, so the server may
  // forget its answer (the next write says so in raftkv-acked).
  settled_ = write.seq;
  last_write_ = write;
  if (!s.ok()) return s;
  last_answer_ = answer;
  return answer;
}

Result<WriteResult> Client::Put(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  Result<std::string> answer = RunWrite(Unary<etcdserverpb::PutResponse>(
      [req](Endpoint& ep, auto& ctx, auto* resp) { return ep.kv->Put(&ctx, req, resp); }));
  if (!answer.ok()) return answer.status();
  Result<etcdserverpb::PutResponse> resp = Parse<etcdserverpb::PutResponse>(*answer);
  if (!resp.ok()) return resp.status();
  return WriteResult{resp->header().revision(), 0, true};
}

Result<WriteResult> Client::Delete(const std::string& key, const std::string& range_end) {
  std::lock_guard<std::mutex> lock(mu_);
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(key);
  req.set_range_end(range_end);
  Result<std::string> answer = RunWrite(Unary<etcdserverpb::DeleteRangeResponse>(
      [req](Endpoint& ep, auto& ctx, auto* resp) { return ep.kv->DeleteRange(&ctx, req, resp); }));
  if (!answer.ok()) return answer.status();
  Result<etcdserverpb::DeleteRangeResponse> resp =
      Parse<etcdserverpb::DeleteRangeResponse>(*answer);
  if (!resp.ok()) return resp.status();
  return WriteResult{resp->header().revision(), resp->deleted(), true};
}

Result<etcdserverpb::TxnResponse> Client::Txn(const etcdserverpb::TxnRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<std::string> answer = RunWrite(Unary<etcdserverpb::TxnResponse>(
      [request](Endpoint& ep, auto& ctx, auto* resp) { return ep.kv->Txn(&ctx, request, resp); }));
  if (!answer.ok()) return answer.status();
  return Parse<etcdserverpb::TxnResponse>(*answer);
}

Result<WriteResult> Client::CompareAndSwap(const std::string& key,
                                           const std::optional<std::string>& expected,
                                           const std::string& new_value) {
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* cmp = txn.add_compare();
  cmp->set_key(key);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  if (expected.has_value()) {
    cmp->set_target(etcdserverpb::Compare::VALUE);
    cmp->set_value(*expected);
  } else {
    // A key that does not exist has create revision 0.
    cmp->set_target(etcdserverpb::Compare::CREATE);
    cmp->set_create_revision(0);
  }
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(new_value);
  Result<etcdserverpb::TxnResponse> resp = Txn(txn);
  if (!resp.ok()) return resp.status();
  return WriteResult{resp->header().revision(), 0, resp->succeeded()};
}

Result<GetResult> Client::Get(const std::string& key, const GetOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  req.set_range_end(options.range_end);
  req.set_serializable(options.serializable);
  req.set_limit(options.limit);
  req.set_revision(options.revision);
  std::string answer;
  RAFTKV_RETURN_IF_ERROR(Invoke(
      Kind::kRead, Unary<etcdserverpb::RangeResponse>([req](Endpoint& ep, auto& ctx, auto* resp) {
        return ep.kv->Range(&ctx, req, resp);
      }),
      &answer));
  Result<etcdserverpb::RangeResponse> resp = Parse<etcdserverpb::RangeResponse>(answer);
  if (!resp.ok()) return resp.status();
  GetResult out;
  out.revision = resp->header().revision();
  out.count = resp->count();
  out.more = resp->more();
  for (const mvccpb::KeyValue& kv : resp->kvs()) out.kvs.push_back(FromProto(kv));
  return out;
}

Result<std::vector<MemberInfo>> Client::MemberList() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string answer;
  RAFTKV_RETURN_IF_ERROR(Invoke(
      Kind::kRead, Unary<etcdserverpb::MemberListResponse>([](Endpoint& ep, auto& ctx, auto* resp) {
        return ep.cluster->MemberList(&ctx, etcdserverpb::MemberListRequest(), resp);
      }),
      &answer));
  Result<etcdserverpb::MemberListResponse> resp = Parse<etcdserverpb::MemberListResponse>(answer);
  if (!resp.ok()) return resp.status();
  std::vector<MemberInfo> out;
  for (const etcdserverpb::Member& m : resp->members()) {
    out.push_back(MemberInfo{m.id(),
                             m.name(),
                             {m.peerurls().begin(), m.peerurls().end()},
                             {m.clienturls().begin(), m.clienturls().end()},
                             m.islearner()});
  }
  return out;
}

Result<MemberStatus> Client::Status() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string answer;
  RAFTKV_RETURN_IF_ERROR(Invoke(
      Kind::kRead, Unary<etcdserverpb::StatusResponse>([](Endpoint& ep, auto& ctx, auto* resp) {
        return ep.maintenance->Status(&ctx, etcdserverpb::StatusRequest(), resp);
      }),
      &answer));
  Result<etcdserverpb::StatusResponse> resp = Parse<etcdserverpb::StatusResponse>(answer);
  if (!resp.ok()) return resp.status();
  return MemberStatus{resp->header().member_id(), resp->leader(),
                      resp->raftterm(),           resp->raftindex(),
                      resp->header().revision(),  resp->version()};
}

std::string Client::LastWriteAnswerForTest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_answer_;
}

Result<std::string> Client::ResendLastWriteForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!last_write_.attempt) return raftkv::Status::FailedPrecondition("client: no write sent yet");
  Write again = last_write_;
  std::string answer;
  RAFTKV_RETURN_IF_ERROR(Invoke(Kind::kWrite, again.attempt, &answer, &again));
  return answer;
}

}  // namespace raftkv::client
