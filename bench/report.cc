#include "bench/report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace raftkv::bench {
namespace {

constexpr double kPercentiles[] = {50, 90, 99, 99.9};
constexpr const char* kPercentileNames[] = {"p50", "p90", "p99", "p99.9"};

double Ms(uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

double Rate(const RunResult& r) {
  return r.elapsed_s > 0 ? r.ok / r.elapsed_s : 0;
}

double CpuPercent(const RunResult& r) {
  return r.elapsed_s > 0 ? 100.0 * (r.cpu_user_s + r.cpu_sys_s) / r.elapsed_s : 0;
}

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

}  // namespace

Progress::Progress(bool terminal, uint64_t expected, double duration_s, double line_every_s)
    : terminal_(terminal),
      expected_(expected),
      duration_s_(duration_s),
      line_every_s_(line_every_s) {}

void Progress::Update(uint64_t done, double elapsed_s) {
  double fraction = expected_ > 0 ? static_cast<double>(done) / expected_
                                  : (duration_s_ > 0 ? elapsed_s / duration_s_ : 0);
  fraction = std::clamp(fraction, 0.0, 1.0);
  if (terminal_) {
    constexpr int kWidth = 40;
    int filled = static_cast<int>(fraction * kWidth);
    std::fprintf(stderr, "\r[%s%s] %3.0f%% %llu req, %.1f s", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, '.').c_str(), fraction * 100,
                 static_cast<unsigned long long>(done), elapsed_s);
    std::fflush(stderr);
    drew_ = true;
    return;
  }
  if (elapsed_s - last_line_s_ < line_every_s_) return;
  double rate = (done - last_done_) / (elapsed_s - last_line_s_);
  std::fprintf(stderr, "progress: %.1f s, %llu requests (%.0f%%), %.0f req/s\n", elapsed_s,
               static_cast<unsigned long long>(done), fraction * 100, rate);
  last_line_s_ = elapsed_s;
  last_done_ = done;
}

void Progress::Finish() {
  if (drew_) std::fprintf(stderr, "\n");
}

std::string FormatText(Workload w, const KvOptions& o, const RunResult& r) {
  std::ostringstream out;
  out << WorkloadName(w) << ": " << r.ok + r.failed << " requests (" << r.ok << " ok, " << r.failed
      << " failed) in " << Fmt("%.2f", r.elapsed_s) << " s, clients " << o.clients << ", conns "
      << o.conns << ", endpoints";
  for (const auto& e : r.endpoints) out << " " << e;
  if (w == Workload::kWatch) {
    out << "\n  watch: " << o.watchers << " watchers on " << o.streams << " streams, " << r.puts
        << " puts; the requests above are events delivered, latency is put to event";
  }
  out << "\n  throughput " << Fmt("%.1f", Rate(r)) << " req/s\n  latency ms:";
  for (size_t i = 0; i < std::size(kPercentiles); i++) {
    out << " " << kPercentileNames[i] << " "
        << Fmt("%.3f", Ms(r.latency_ns.Percentile(kPercentiles[i])));
  }
  out << " max " << Fmt("%.3f", Ms(r.latency_ns.max())) << " mean "
      << Fmt("%.3f", r.latency_ns.mean() / 1e6) << "\n";
  out << "  bench cpu " << Fmt("%.2f", r.cpu_user_s + r.cpu_sys_s) << " s (user "
      << Fmt("%.2f", r.cpu_user_s) << " + sys " << Fmt("%.2f", r.cpu_sys_s) << "), "
      << Fmt("%.0f", CpuPercent(r)) << "% of one core\n";
  for (const auto& [what, n] : r.errors) out << "  error x" << n << ": " << what << "\n";
  return out.str();
}

std::string FormatJson(Workload w, const KvOptions& o, const RunResult& r) {
  std::ostringstream out;
  out << "{\"workload\":" << JsonString(WorkloadName(w)) << ",\"clients\":" << o.clients
      << ",\"conns\":" << o.conns << ",\"endpoints\":[";
  for (size_t i = 0; i < r.endpoints.size(); i++) {
    out << (i ? "," : "") << JsonString(r.endpoints[i]);
  }
  out << "],\"requests\":" << r.ok + r.failed << ",\"ok\":" << r.ok << ",\"failed\":" << r.failed
      << ",\"elapsed_s\":" << Fmt("%.4f", r.elapsed_s) << ",\"rps\":" << Fmt("%.2f", Rate(r));
  if (w == Workload::kWatch) {
    out << ",\"watchers\":" << o.watchers << ",\"streams\":" << o.streams << ",\"puts\":" << r.puts;
  }
  out << ",\"latency_ms\":{";
  for (size_t i = 0; i < std::size(kPercentiles); i++) {
    out << JsonString(kPercentileNames[i]) << ":"
        << Fmt("%.4f", Ms(r.latency_ns.Percentile(kPercentiles[i]))) << ",";
  }
  out << "\"max\":" << Fmt("%.4f", Ms(r.latency_ns.max()))
      << ",\"mean\":" << Fmt("%.4f", r.latency_ns.mean() / 1e6)
      << "},\"cpu\":{\"user_s\":" << Fmt("%.3f", r.cpu_user_s)
      << ",\"sys_s\":" << Fmt("%.3f", r.cpu_sys_s)
      << ",\"pct_one_core\":" << Fmt("%.1f", CpuPercent(r)) << "},\"errors\":{";
  bool first = true;
  for (const auto& [what, n] : r.errors) {
    out << (first ? "" : ",") << JsonString(what) << ":" << n;
    first = false;
  }
  out << "}}\n";
  return out.str();
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

}  // namespace raftkv::bench
