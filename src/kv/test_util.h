// Small builders shared by the kv tests.
#pragma once

#include <stdexcept>
#include <string>

#include "kv/store.h"

namespace raftkv::kv::testing {

inline PutResponse MustPut(Store& s, const std::string& k, const std::string& v,
                           int64_t lease = 0) {
  PutRequest req;
  req.key = k;
  req.value = v;
  req.lease = lease;
  auto r = s.Put(req);
  if (!r.ok()) throw std::runtime_error(r.status().ToString());
  return r.value();
}

inline DeleteRangeResponse MustDelete(Store& s, const std::string& k, const std::string& end = "") {
  DeleteRangeRequest req;
  req.key = k;
  req.range_end = end;
  auto r = s.DeleteRange(req);
  if (!r.ok()) throw std::runtime_error(r.status().ToString());
  return r.value();
}

inline RangeResponse MustRange(Store& s, const std::string& k, const std::string& end = "",
                               int64_t rev = 0) {
  RangeRequest req;
  req.key = k;
  req.range_end = end;
  req.revision = rev;
  auto r = s.Range(req);
  if (!r.ok()) throw std::runtime_error(r.status().ToString());
  return r.value();
}

inline std::string Keys(const RangeResponse& r) {
  std::string out;
  for (const auto& kv : r.kvs) {
    if (!out.empty()) out += ",";
    out += kv.key;
  }
  return out;
}

inline RequestOp PutOp(const std::string& k, const std::string& v) {
  PutRequest p;
  p.key = k;
  p.value = v;
  return RequestOp{p};
}
inline RequestOp DeleteOp(const std::string& k, const std::string& end = "") {
  DeleteRangeRequest d;
  d.key = k;
  d.range_end = end;
  return RequestOp{d};
}
inline RequestOp RangeOp(const std::string& k, const std::string& end = "") {
  RangeRequest r;
  r.key = k;
  r.range_end = end;
  return RequestOp{r};
}
inline RequestOp TxnOp(TxnRequest t) {
  return RequestOp{std::move(t)};
}

inline Compare Cmp(const std::string& k, Compare::Target target, Compare::Result result, int64_t n,
                   const std::string& value = "") {
  Compare c;
  c.key = k;
  c.target = target;
  c.result = result;
  c.version = c.create_revision = c.mod_revision = c.lease = n;
  c.value = value;
  return c;
}

}  // namespace raftkv::kv::testing
