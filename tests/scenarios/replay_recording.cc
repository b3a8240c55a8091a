#include "tests/scenarios/replay_recording.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "sim/replay/encoding.h"
#include "sim/replay/replay_html.h"
#include "tests/scenarios/questions.h"

namespace raftkv::scenario {
namespace {

const char* OutputDir() {
  const char* d = std::getenv("RAFTKV_SCENARIO_HTML");
  return d != nullptr && *d != '\0' ? d : nullptr;
}

std::string Html(const std::string& s) {
  return sim::replay::HtmlText(s);
}

// The question a test answers: its name starts with "<id>_" ("L4_L6_..." answers both;
// leadership_transfer_* answers "transfer").
std::vector<const Question*> QuestionsOf(const std::string& test) {
  std::vector<const Question*> out;
  for (const Question& q : Questions()) {
    const bool transfer = q.id == "transfer" && test.rfind("leadership_transfer", 0) == 0;
    const bool prefix = test.rfind(q.id + "_", 0) == 0 || test.find("_" + q.id + "_") == 2;
    if (transfer || prefix) out.push_back(&q);
  }
  return out;
}

struct Written {
  std::string file;  // relative to the output dir
  std::string test;  // Suite.Name
  bool passed = true;
  std::string outcome;
};

// Writes the recorders of each test when it ends, and the index when the program ends.
class ReplayWriter : public testing::EmptyTestEventListener {
 public:
  static ReplayWriter* Get() {
    static ReplayWriter* w = [] {
      auto* writer = new ReplayWriter();
      testing::UnitTest::GetInstance()->listeners().Append(writer);  // gtest owns it
      return writer;
    }();
    return w;
  }

  sim::SimObserver* NewRecorder() {
    if (recorders_.size() >= static_cast<size_t>(kMaxReplaysPerTest)) return nullptr;
    recorders_.push_back(std::make_unique<sim::ReplayRecorder>());
    return recorders_.back().get();
  }

  void OnTestEnd(const testing::TestInfo& info) override {
    const std::string dir = OutputDir();
    const std::string test = std::string(info.test_suite_name()) + "." + info.name();
    int k = 0;
    for (const auto& r : recorders_) {
      if (!r->finished()) continue;
      Written w;
      w.test = test;
      w.passed = info.result()->Passed();
      const char* tag = std::getenv("RAFTKV_SCENARIO_HTML_TAG");  // e.g. "bug1-"
      w.file = std::string(tag ? tag : "") + test + (k++ ? "-" + std::to_string(k) : "") + ".html";
      sim::ReplayPage page;
      page.title = test;
      std::vector<const Question*> qs = QuestionsOf(info.name());
      for (const Question* q : qs) {
        page.question += (page.question.empty() ? "" : " ") + q->id + ": " + q->question;
        page.watch += (page.watch.empty() ? "" : " ") + q->watch;
      }
      page.command =
          "RAFTKV_SCENARIO_HTML=<dir> build/test-bin/scenario_tests --gtest_filter=" + test;
      w.outcome = w.passed ? "the test passed" : "the test FAILED";
      page.outcome = w.outcome;
      Status s = sim::WriteReplayHtml(dir + "/" + w.file, r->data(), page);
      if (!s.ok()) {
        ADD_FAILURE() << "replay not written: " << s.ToString();
        continue;
      }
      written_.push_back(w);
    }
    recorders_.clear();
  }

  void OnTestProgramEnd(const testing::UnitTest&) override { WriteIndex(); }

 private:
  // The index lists every question with the replays this run wrote, and keeps the links to
  // replays written earlier into the same folder (make scenarios-html runs the planted-bug
  // binaries first, into bugs/).
  void WriteIndex() {
    const std::string dir = OutputDir();
    std::string body;
    for (const Question& q : Questions()) {
      std::string links;
      for (const Written& w : written_) {
        for (const Question* x : QuestionsOf(w.test.substr(w.test.find('.') + 1))) {
          if (x != &q) continue;
          links += "<li><a href=\"" + Html(w.file) + "\">" + Html(w.test) + "</a>" +
                   (w.passed ? "" : " <b class=fail>failed</b>") + "</li>";
        }
      }
      body += "<tr><td class=id>" + Html(q.id) + "</td><td><div class=q>" + Html(q.question) +
              "</div><div class=w><b>Watch for:</b> " + Html(q.watch) + "</div></td><td><ul>" +
              (links.empty() ? "<li class=none>no replay in this run</li>" : links) +
              "</ul></td></tr>\n";
    }
    std::string bugs;
    const std::filesystem::path bug_dir = std::filesystem::path(dir) / "bugs";
    if (std::filesystem::is_directory(bug_dir)) {
      std::vector<std::string> files;
      for (const auto& e : std::filesystem::directory_iterator(bug_dir)) {
        const std::string f = e.path().filename().string();
        if (e.path().extension() == ".html" && f != "index.html") files.push_back(f);
      }
      std::sort(files.begin(), files.end());
      for (const std::string& f : files) {
        bugs +=
            "<li><a href=\"bugs/" + Html(f) + "\">" + Html(f.substr(0, f.size() - 5)) + "</a></li>";
      }
    }
    std::ofstream out(dir + "/index.html", std::ios::trunc);
    out << "<!doctype html><html lang=en><head><meta charset=utf-8><title>raftkv: the study "
           "notes' questions, replayed</title><style>"
           "body{font:14px/1.45 'DejaVu Sans',Helvetica,Arial,sans-serif;margin:0;background:"
           "#f6f7f9;color:#1f2933}header{background:#1f2933;color:#fff;padding:14px 22px}"
           "h1{font-size:19px;margin:0}header p{margin:4px 0 0;color:#cbd2d9}main{padding:16px "
           "22px}table{border-collapse:collapse;width:100%;background:#fff;border:1px solid "
           "#dde2e8}td{vertical-align:top;padding:8px 10px;border-bottom:1px solid #eef1f4}"
           "td.id{font-weight:700;font-size:16px;width:70px}.q{font-weight:600}.w{color:#52606d;"
           "font-size:13px;margin-top:3px}ul{margin:0;padding-left:16px}li.none{color:#9aa5b1}"
           ".fail{color:#b91c1c}a{color:#1d4ed8}h2{font-size:15px;margin:22px 0 6px}"
           "</style></head><body><header><h1>raftkv: every study-notes question as a replay "
           "you can watch</h1><p>Each scenario test of tests/scenarios/ runs the real "
           "consensus core in the simulator; its replay shows the nodes, the messages between "
           "them, every log and the client operations on virtual time (space: play/pause, "
           "arrows: step).</p></header><main><table>\n"
        << body << "</table>\n";
    if (!bugs.empty()) {
      out << "<h2>Planted bugs: the same stories against a broken core (jump to the "
             "violation)</h2><ul>"
          << bugs << "</ul>\n";
    }
    out << "</main></body></html>\n";
  }

  std::vector<std::unique_ptr<sim::ReplayRecorder>> recorders_;
  std::vector<Written> written_;
};

}  // namespace

sim::SimObserver* NewScenarioRecorder() {
  if (OutputDir() == nullptr) return nullptr;
  return ReplayWriter::Get()->NewRecorder();
}

}  // namespace raftkv::scenario
