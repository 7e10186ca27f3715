// The note and reason of a finding's Event: bounded, stable, safe on a terminal.
#include <catch2/catch.hpp>

#include "k8s/note.h"
#include "util/utf8.h"

using namespace initwatch;

namespace {

model::Finding story_finding() {
    model::Finding f;
    f.severity = model::Severity::warning;
    f.init.comm = "sh";
    f.init.pid = 4242;
    f.init.argv = model::Argv{"sh", "/my-app/startup.sh"};
    f.init.status = model::ExitStatus::decode(0);
    f.init.ran_ns = 1'234'567'890;
    model::LiveProcess server;
    server.pid = 4250;
    server.comm = "node";
    server.argv = model::Argv{"node", "server.js"};
    server.how = model::How::background;
    server.sighup_ignored = true;
    server.age_ns = 999'000'000;
    model::LiveProcess sleeper;
    sleeper.pid = 4260;
    sleeper.comm = "sleep";
    sleeper.argv = model::Argv{"sleep", "3600"};
    sleeper.how = model::How::reparented;
    f.live = {server, sleeper};
    f.live_count = 2;
    f.diagnosis = model::diagnose(f);
    return f;
}

bool valid_utf8(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0;
        const size_t len = util::decode_utf8(s, i, cp);
        if (!len || util::is_unsafe_codepoint(cp)) return false;
        i += len;
    }
    return true;
}

}  // namespace

TEST_CASE("the story's finding as an Event note") {
    const model::Finding f = story_finding();
    const std::string note = k8s::finding_note(f);
    CHECK(note ==
          "init `sh /my-app/startup.sh` ended (exit 0) leaving 2 processes: `node server.js` (background, "
          "nohup); "
          "`sleep 3600` (reparented). " +
              f.diagnosis);
    CHECK(k8s::event_reason(f) == "InitExitedLeavingProcesses");
}

TEST_CASE("the note is stable across restarts: no pids, no times") {
    model::Finding a = story_finding();
    model::Finding b = story_finding();
    b.init.pid = 9;
    b.init.ran_ns = 77;
    b.ts_ns = 123456;
    b.live[0].pid = 10;
    b.live[0].age_ns = 5;
    b.live[1].ppid = 1;
    CHECK(k8s::finding_note(a) == k8s::finding_note(b));
    CHECK(k8s::finding_note(a).find("4242") == std::string::npos);
}

TEST_CASE("a reason per kind of finding") {
    model::Finding f = story_finding();
    f.severity = model::Severity::error;
    CHECK(k8s::event_reason(f) == "InitCrashedLeavingProcesses");
    f.severity = model::Severity::info;
    CHECK(k8s::event_reason(f) == "InitStoppedLeavingProcesses");
    f.scope = model::Scope::cgroup;
    CHECK(k8s::event_reason(f) == "MainProcessStoppedLeavingProcesses");
}

TEST_CASE("a hostile finding still gives at most 1,024 bytes of valid, escaped UTF-8") {
    model::Finding f = story_finding();
    f.init.argv = model::Argv{std::string(3000, 'a') + "\xe2\x80\xae" + "\x1b[2J" + "\xc3"};
    std::vector<model::LiveProcess> many(200, f.live[0]);
    for (auto& p : many)
        p.argv = model::Argv{"x\xe2\x80\xaey", std::string(500, 'z'), "\xe6\x97\xa5\xe6\x9c\xac"};
    f.live = many;
    f.live_count = 5000;
    f.diagnosis = model::diagnose(f);
    for (size_t max : {size_t{1024}, size_t{300}, size_t{40}, size_t{3}}) {
        const std::string note = k8s::finding_note(f, max);
        CHECK(note.size() <= max);
        CHECK(valid_utf8(note));
    }
    const std::string note = k8s::finding_note(f);
    CHECK(note.find("\\u202e") != std::string::npos);
    CHECK(note.find("more") != std::string::npos);  // the list was cut, and says so
}

TEST_CASE("processes past the list are counted, not dropped") {
    model::Finding f = story_finding();
    f.live_count = 7;  // 5 more in `unlisted`
    const std::string note = k8s::finding_note(f);
    CHECK(note.find("leaving 7 processes") != std::string::npos);
    CHECK(note.find("; and 5 more") != std::string::npos);
}
