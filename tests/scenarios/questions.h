// The study notes' questions (notes/seed-questions.md) in a sentence each, with what to watch
// for in their replays: the index page of `make scenarios-html` (replay_recording.h).
#pragma once

#include <string>
#include <vector>

namespace raftkv::scenario {

struct Question {
  std::string id;     // "E1"; a scenario test answers it if its name starts with "<id>_"
  std::string topic;  // "Election", ...
  std::string question;
  std::string watch;  // what to watch for in the replay
};

const std::vector<Question>& Questions();

}  // namespace raftkv::scenario
