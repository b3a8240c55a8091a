#include "server/compactor.h"

#include <cctype>
#include <charconv>
#include <cmath>

namespace raftkv::server {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

Result<nanoseconds> ParseGoDuration(const std::string& text) {
  auto bad = [&] { return Status::InvalidArgument("time: invalid duration \"" + text + "\""); };
  if (text.empty()) return bad();
  size_t i = 0;
  bool neg = false;
  if (text[0] == '-' || text[0] == '+') {
    neg = text[0] == '-';
    i = 1;
  }
  if (text.substr(i) == "0") return nanoseconds(0);
  double total = 0;
  bool any = false;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start) return bad();
    double v = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, v);
    if (ec != std::errc() || p != text.data() + i) return bad();
    size_t ustart = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.')
      ++i;
    std::string unit = text.substr(ustart, i - ustart);
    double scale = 0;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else
      return bad();  // a missing or unknown unit
    total += v * scale;
    any = true;
  }
  if (!any || total > 9.2e18) return bad();
  return nanoseconds(static_cast<int64_t>(neg ? -total : total));
}

Result<AutoCompaction> ParseAutoCompaction(const std::string& mode, const std::string& retention) {
  AutoCompaction c;
  if (mode == "revision") {
    c.mode = CompactionMode::kRevision;
  } else if (mode == "periodic" || mode.empty()) {
    c.mode = CompactionMode::kPeriodic;
  } else {
    return Status::InvalidArgument("unknown auto-compaction-mode \"" + mode + "\"");
  }
  int64_t n = 0;
  auto [p, ec] = std::from_chars(retention.data(), retention.data() + retention.size(), n);
  if (!retention.empty() && ec == std::errc() && p == retention.data() + retention.size() &&
      n >= 0) {
    if (c.mode == CompactionMode::kRevision) {
      c.revisions = n;
    } else {
      c.period = std::chrono::hours(n);
    }
    return c;
  }
  auto d = ParseGoDuration(retention);
  if (!d.ok()) {
    return Status::InvalidArgument("error parsing CompactionRetention: " + d.status().message());
  }
  if (d->count() < 0) return Status::InvalidArgument("negative auto-compaction-retention");
  if (c.mode == CompactionMode::kRevision) {
    c.revisions = d->count();  // etcd's quirk: the duration's nanoseconds as a revision count
  } else {
    c.period = std::chrono::duration_cast<milliseconds>(*d);
  }
  return c;
}

namespace {
milliseconds CompactInterval(milliseconds period) {
  return std::min<milliseconds>(period, std::chrono::hours(1));
}
milliseconds RetryInterval(milliseconds period) {
  return std::max<milliseconds>(CompactInterval(period) / 10, milliseconds(1));
}
}  // namespace

void AutoCompactor::Pause() {
  running_ = false;
  in_flight_ = false;
  samples_.clear();
}

std::optional<int64_t> AutoCompactor::Tick(Clock::time_point now, int64_t rev) {
  if (!cfg_.enabled() || in_flight_) return std::nullopt;
  if (!running_) {  // (re)started: the windows start now
    running_ = true;
    first_done_ = false;
    last_success_ = now;
    samples_.clear();
    next_ = now + (cfg_.mode == CompactionMode::kRevision ? cfg_.revision_interval
                                                          : RetryInterval(cfg_.period));
    if (cfg_.mode == CompactionMode::kPeriodic) samples_.push_back(rev);
    return std::nullopt;
  }
  if (now < next_) return std::nullopt;
  return cfg_.mode == CompactionMode::kRevision ? tickRevision(now, rev) : tickPeriodic(now, rev);
}

std::optional<int64_t> AutoCompactor::tickRevision(Clock::time_point now, int64_t rev) {
  next_ = now + cfg_.revision_interval;
  int64_t target = rev - cfg_.revisions;
  if (target <= 0 || target == prev_) return std::nullopt;
  in_flight_ = true;
  in_flight_rev_ = target;
  return target;
}

std::optional<int64_t> AutoCompactor::tickPeriodic(Clock::time_point now, int64_t rev) {
  const milliseconds retry = RetryInterval(cfg_.period);
  next_ = now + retry;
  // samples_[0] is the revision of one retention period ago (etcd keeps period/retry + 1).
  samples_.push_back(rev);
  const size_t keep = static_cast<size_t>(cfg_.period / retry) + 1;
  while (samples_.size() > keep) samples_.pop_front();
  const milliseconds base = first_done_ ? CompactInterval(cfg_.period) : cfg_.period;
  if (now - last_success_ < base) return std::nullopt;
  in_flight_ = true;
  in_flight_rev_ = samples_.front();
  return in_flight_rev_;
}

void AutoCompactor::Done(bool ok, Clock::time_point now) {
  if (!in_flight_) return;
  in_flight_ = false;
  if (!ok) return;  // retried at the next interval
  prev_ = in_flight_rev_;
  last_success_ = now;
  first_done_ = true;
}

}  // namespace raftkv::server
