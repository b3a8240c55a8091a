// The client front's Handler (src/front): KV.Range, Put, DeleteRange and Txn served straight
// from EtcdServer, with the checks and in the order of KvService (kv_service.cc): etcd's
// learner and require-leader gate, the request's own check, the size limit, raftkv's session
// metadata, then the caller from its token. The response leaves as the bytes the apply thread
// made (EtcdServer::*Bytes). Every other call is forwarded by the front to the gRPC services.
#pragma once

#include <string_view>

#include "front/front.h"
#include "server/daemon/services.h"

namespace raftkv::server::daemon {

class KvFront final : public front::Handler {
 public:
  KvFront(EtcdServer* server, ServiceLimits limits, const MemberState* member)
      : server_(server), limits_(limits), member_(member) {}

  bool Serves(std::string_view path) const override;
  void Serve(front::Call call) override;

 private:
  void Range(const front::Call& call);
  // A write: `check` is the request's own check, `send` calls EtcdServer.
  template <typename Req, typename Check, typename Send>
  void Write(const front::Call& call, Check check, Send send);
  // etcd's unary gate; answers the call and returns true if refused.
  bool Refused(const front::Call& call, bool learner_ok) const;

  EtcdServer* server_;
  ServiceLimits limits_;
  const MemberState* member_;
};

}  // namespace raftkv::server::daemon
