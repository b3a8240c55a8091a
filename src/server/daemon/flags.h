// raftkvd's command line: etcd 3.4's flag names, meanings, defaults and validation rules
// (embed/config.go Validate, etcdserver/config.go VerifyBootstrap), parsed with CLI11.
// `--flag=value` and `--flag value` are both accepted; a repeated flag keeps its last value,
// as Go's flag package does.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/config.h"

namespace raftkv::server::daemon {

inline constexpr char kVersion[] = "0.1.0";
inline constexpr char kApiVersion[] = "3.4";

// Fills *config from argv. On --help or --version prints to stdout (or *out) and sets
// *exit_now (the caller exits 0). A bad command line returns InvalidArgument with a one-line
// message naming the flag (the caller prints it and exits 2).
Status ParseFlags(int argc, const char* const* argv, ServerConfig* config, bool* exit_now);
Status ParseFlags(int argc, const char* const* argv, ServerConfig* config, bool* exit_now,
                  std::ostream* out);

// An http://host:port or https://host:port URL, as raftkvd's flags and MemberAdd accept them.
struct HostPort {
  std::string host;  // without brackets for IPv6
  int port = 0;
  bool tls = false;  // https
  // "host:port" ("[::1]:port" for IPv6), what gRPC and httplib listen on.
  std::string Address() const;
  // The normalised URL: "http[s]://" + Address().
  std::string Url() const;
};
// Parses "http://host:port" or "https://host:port" (an optional trailing "/" is allowed).
// unix URLs are refused as not supported; anything else malformed is refused with the
// reason.
Result<HostPort> ParseHttpUrl(const std::string& url);
// A URL we bind to must name an IP address or "localhost" (etcd's checkBindURLs).
Status CheckBindUrl(const std::string& url);

}  // namespace raftkv::server::daemon
