// Replays of the scenario tests: with RAFTKV_SCENARIO_HTML=<dir> in the environment, every
// cluster a scenario builds through Options() is recorded (sim/replay/) and written, when
// the test ends, as <dir>/<Suite>.<Test>.html with the question it answers and what to watch
// for; at the end of the run <dir>/index.html lists every question with its replays
// (`make scenarios-html`; RAFTKV_SCENARIO_HTML_TAG=<prefix> prefixes the file names, as
// the planted-bug runs do). Without the variable nothing is recorded.
#pragma once

#include "sim/observer.h"

namespace raftkv::scenario {

// The recorder for the next cluster of the running test, or nullptr (not recording, or the
// test already has kMaxReplaysPerTest replays).
sim::SimObserver* NewScenarioRecorder();
inline constexpr int kMaxReplaysPerTest = 2;

}  // namespace raftkv::scenario
