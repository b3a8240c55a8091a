// The replay page: one self-contained HTML file (player, styles and the recorded run in
// it; nothing fetched) that replays a recorded simulator run on virtual time. See
// sim/replay/README.md for what it shows and its limits.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "sim/replay/recorder.h"

namespace raftkv::sim {

// What the page says about the run besides what was recorded.
struct ReplayPage {
  std::string title;     // "seed 42 · 5 nodes" or the scenario's name
  std::string question;  // the study-notes question, in a sentence (scenarios)
  std::string watch;     // what to watch for
  std::string command;   // how to run it again
  std::string outcome;   // "ok", or the first violation
};

std::string ReplayHtml(const ReplayData& data, const ReplayPage& page);
// Writes ReplayHtml to `path` (an error names the path).
Status WriteReplayHtml(const std::string& path, const ReplayData& data, const ReplayPage& page);

// The player's files (sim/replay/player.*), embedded at build time.
std::string_view ReplayAsset(std::string_view name);

}  // namespace raftkv::sim
