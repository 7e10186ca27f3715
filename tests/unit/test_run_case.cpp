// The `run` scenario files (tests/kernel/scenarios/, format in tests/common/run_case.h): every
// file parses, a malformed one is refused with a message that names the file and the field,
// and the checks fail when the output differs. The kernel tests run the cases.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "../common/run_case.h"

using namespace initwatch::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

RunCase parse(const std::string& text) {
    return parse_run_case(text, "case.json", program_variable_names(), TOP_DIR);
}

// A valid case, with `patch` merged into it (RFC 7386).
std::string valid_with(const json& patch) {
    json c = json::parse(R"({
      "name": "a case",
      "script": ["#!/bin/sh", "sleep 3600 &", "exit 0"],
      "options": ["--timeout", "30"],
      "expect": {"status": 3, "findings": 1, "finding": {"severity": "warning"}}
    })");
    c.merge_patch(patch);
    return c.dump();
}

// An init_exit finding as initwatch writes it (the fields the checks below use).
json finding() {
    return json::parse(R"({"type": "init_exit", "severity": "warning", "time": "2026-01-01T00:00:00.000Z",
      "init": {"pid": 100, "argv": ["sh", "/tmp/s.sh"], "exit_code": 0, "signal": null},
      "live": [{"pid": 101, "ppid": 100, "how": "background", "argv": ["sleep", "3600"], "execed": true},
               {"pid": 102, "ppid": 100, "how": "reparented", "argv": ["sleep", "3600"], "execed": true}],
      "diagnosis": "run exec sleep 3600 instead"})");
}

RunOutput output_with(const json& f, int status = 3) {
    RunOutput o;
    o.status = status;
    o.err = "initwatch: one finding\n";
    o.lines = {json{{"type", "exec"}, {"pid", 100}, {"old_pid", 105}}, json{{"type", "exit"}, {"pid", 100}},
               f};
    return o;
}

// The expectations of a case with a script (so that ${SCRIPT} is known).
CaseExpect expect_of(const std::string& expect_json) {
    const json c{{"name", "x"}, {"script", {"exit 0"}}, {"expect", json::parse(expect_json)}};
    return parse(c.dump()).runs.at(0).expect;
}

}  // namespace

TEST_CASE("run case files: every file in tests/kernel/scenarios is a valid case with a unique name") {
    std::set<std::string> names;
    size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(SCENARIO_DIR)) {
        if (entry.path().extension() != ".json") continue;
        ++files;
        INFO(entry.path());
        std::ifstream in(entry.path());
        std::stringstream text;
        text << in.rdbuf();
        RunCase c;
        REQUIRE_NOTHROW(c = parse_run_case(text.str(), entry.path().filename().string(),
                                           program_variable_names(), TOP_DIR));
        CHECK(names.insert(c.name).second);
        CHECK_FALSE(c.runs.empty());
    }
    CHECK(files >= 11);
}

TEST_CASE("run case files: runs are merge patches of the case, each checked whole") {
    const RunCase c = parse(valid_with(json::parse(R"({"env": ["A=1"], "runs": [
        {"label": "as it is"},
        {"label": "other env, other status", "env": ["A=2"], "expect": {"status": 0, "findings": 0, "finding": null}}]})")));
    REQUIRE(c.runs.size() == 2);
    CHECK(c.runs[0].label == "as it is");
    CHECK(c.runs[0].env == std::vector<std::string>{"A=1"});
    CHECK(c.runs[0].expect.status == 3);
    CHECK(c.runs[0].command == std::vector<std::string>{"sh", "${SCRIPT}"});
    CHECK(c.runs[0].script == "#!/bin/sh\nsleep 3600 &\nexit 0\n");
    CHECK(c.runs[1].env == std::vector<std::string>{"A=2"});
    CHECK(c.runs[1].expect.status == 0);
    CHECK(c.runs[1].expect.findings == 0);
    CHECK(c.runs[1].options == std::vector<std::string>{"--timeout", "30"});
    CHECK(parse(valid_with({{"expect", {{"status", nullptr}, {"killed_by", "SIGSEGV"}}}}))
              .runs[0]
              .expect.status == 128 + SIGSEGV);
}

TEST_CASE("run case files: a malformed case is refused with the file and the field named") {
    auto refused = [](const std::string& text, const std::string& why) {
        INFO(text);
        CHECK_THROWS_WITH(parse(text), Contains("case.json") && Contains(why));
    };
    refused("{\"name\": \"x\",", "not valid JSON");
    refused("[]", "must be a JSON object");
    refused(valid_with({{"name", nullptr}}), "needs \"name\"");
    refused(valid_with({{"nmae", "typo"}}), "unknown field \"nmae\"");
    refused(valid_with({{"expect", {{"stauts", 3}}}}), "unknown field \"stauts\"");
    refused(valid_with({{"expect", {{"status", nullptr}}}}), "needs one of \"status\" and \"killed_by\"");
    refused(valid_with({{"expect", {{"killed_by", "SIGNOPE"}, {"status", nullptr}}}}), "killed_by");
    refused(valid_with({{"expect", {{"findings", nullptr}}}}), "findings: required");
    refused(valid_with({{"expect", {{"findings", 0}}}}), "\"findings\" is not 1");
    refused(valid_with({{"expect", {{"finding", {{"live_count", {{"~=", 1}}}}}}}}), "unknown field \"~=\"");
    refused(valid_with({{"expect", {{"finding", {{"live_count", json::object()}}}}}}), "empty matcher");
    refused(valid_with({{"expect", {{"finding", {{"live..how", "background"}}}}}}), "not a field path");
    refused(valid_with({{"expect", {{"finding", {{"time", {{"ends_with", 1}}}}}}}}), "needs a string");
    refused(valid_with({{"expect", {{"finding", {{"init.signal", {{"signal", "KILL"}}}}}}}}), "signal name");
    refused(valid_with({{"command", {"${NO_SUCH_PROGRAM}"}}}), "unknown variable ${NO_SUCH_PROGRAM}");
    refused(valid_with({{"script", nullptr}}), "needs \"command\" or \"script\"");
    refused(valid_with({{"script", nullptr}, {"command", {"sh", "${SCRIPT}"}}}),
            "unknown variable ${SCRIPT}");
    refused(valid_with({{"options", {"--x=${SCRIPT}"}}}), "only a whole string");
    refused(valid_with({{"options", {"--timeout", 30}}}), "options: must be an array of strings");
    refused(valid_with({{"env", {"PRODUCTION_ENV"}}}), "is not NAME=VALUE");
    refused(valid_with({{"timeout", 0}}), "positive number");
    refused(valid_with({{"options", {"${init.pid}"}}}), "names a field of the finding");
    refused(valid_with({{"steps", {{{"wait_for_output", "started"}}}}}), "needs \"within\"");
    refused(valid_with({{"steps", {{{"signal_init", "SIGTERN"}}}}}), "signal name");
    refused(valid_with({{"steps", {{{"jump", 1}}}}}), "unknown step");
    refused(valid_with({{"expect", {{"when", {{{"else", {{"warn", "x"}}}}}}}}}), "\"else\" without \"if\"");
    refused(valid_with({{"expect", {{"events", {{{"type", "exit"}}}}}}}), "count: required");
    refused(valid_with({{"runs", json::array()}}), "non-empty array");
    refused(valid_with({{"runs", {{{"env", {"A=1"}}}}}}), "needs \"label\"");
    refused(valid_with({{"runs", {{{"label", "a"}}, {{"label", "a"}}}}}), "used twice");
    refused(valid_with({{"runs", {{{"label", "a"}, {"expect", {{"statu", 1}}}}}}}),
            "runs[0] (a).expect: unknown field");
}

TEST_CASE("run case checks: status, output, count, fields, each element, references") {
    const Variables vars{{"SCRIPT", "/tmp/s.sh"}};
    const CaseExpect e = expect_of(R"({"status": 3, "findings": 1, "stderr_contains": ["one finding"],
        "finding": {"severity": "warning", "time": {"ends_with": "Z"}, "init.pid": {">": 1},
                    "init.argv": ["sh", "${SCRIPT}"], "init.exit_code": {"type": "number", "==": 0},
                    "init.signal": null, "live": {"size": 2}, "live.*.ppid": "${init.pid}",
                    "live.*.argv": ["sleep", "3600"], "diagnosis": {"contains": "exec sleep"}}})");
    const Verdict ok = check_run(e, output_with(finding()), vars);
    CHECK(ok.failures.empty());
    CHECK(ok.checks >= 12);

    json f = finding();
    f["live"][1]["ppid"] = 1;
    f["init"]["signal"] = 9;
    f.erase("diagnosis");
    const Verdict bad = check_run(e, output_with(f, 0), vars);
    REQUIRE(bad.failures.size() == 4);
    CHECK_THAT(bad.failures[0], Contains("status: expected 3, got 0"));
    std::string all;
    for (const auto& m : bad.failures) all += m + "\n";
    CHECK_THAT(all, Contains("finding.live.1.ppid: expected 100, got 1"));
    CHECK_THAT(all, Contains("finding.init.signal: expected null, got 9"));
    CHECK_THAT(all, Contains("finding.diagnosis: no such field"));

    RunOutput none = output_with(finding());
    none.lines.pop_back();
    const Verdict missing = check_run(e, none, vars);
    REQUIRE(missing.failures.size() == 1);
    CHECK_THAT(missing.failures[0], Contains("findings: expected 1 init_exit, got 0"));

    const Verdict quiet =
        check_run(expect_of(R"({"status": 3, "findings": 1, "stdout_contains": ["started"]})"),
                  output_with(finding()), vars);
    REQUIRE(quiet.failures.size() == 1);
    CHECK_THAT(quiet.failures[0], Contains("stdout does not contain \"started\""));
}

TEST_CASE("run case checks: rules take the first branch that holds, and warn") {
    const CaseExpect e = expect_of(R"({"status": 3, "findings": 1, "when": [
        {"if": {"live.0.execed": false}, "warn": "not exec'd", "then": {"live.0.argv": "${init.argv}"},
         "else": {"then": {"live.0.argv": ["sleep", "3600"]}}},
        {"if": {"live.0.how": "reparented"}, "then": {"severity": "error"}}]})");
    const Verdict exec_d = check_run(e, output_with(finding()), {});
    CHECK(exec_d.failures.empty());
    CHECK(exec_d.warnings.empty());

    json f = finding();
    f["live"][0]["execed"] = false;
    const Verdict forked = check_run(e, output_with(f), {});
    CHECK(forked.warnings == std::vector<std::string>{"not exec'd"});
    REQUIRE(forked.failures.size() == 1);
    CHECK_THAT(forked.failures[0], Contains("finding.live.0.argv: expected [\"sh\",\"/tmp/s.sh\"]"));

    f["live"][0].erase("execed");
    const Verdict unknown = check_run(e, output_with(f), {});
    REQUIRE_FALSE(unknown.failures.empty());
    CHECK_THAT(unknown.failures[0], Contains("when: finding.live.0.execed: no such field"));
}

TEST_CASE("run case checks: events are counted where their fields match") {
    const CaseExpect e = expect_of(R"({"status": 3, "findings": 1, "events": [
        {"type": "exec", "where": {"pid": "${init.pid}", "old_pid": {"!=": "${init.pid}"}}, "count": {">=": 1}},
        {"type": "exit", "where": {"pid": "${init.pid}"}, "count": 1}]})");
    CHECK(check_run(e, output_with(finding()), {}).failures.empty());

    RunOutput twice = output_with(finding());
    twice.lines.push_back(json{{"type", "exit"}, {"pid", 100}});
    twice.lines.push_back(json{{"type", "exec"}, {"pid", 100}});  // no old_pid: does not match
    const Verdict v = check_run(e, twice, {});
    REQUIRE(v.failures.size() == 1);
    CHECK_THAT(v.failures[0], Contains("events of type \"exit\"") && Contains("count expected 1, got 2"));
}

TEST_CASE("a case's script can be a script of the repository, by its path from the top") {
    const RunCase c =
        parse(valid_with({{"script", nullptr}, {"script_file", "examples/story/3-dev-early-exit.sh"}}));
    REQUIRE(c.runs.size() == 1);
    CHECK(c.runs[0].script.find("nohup") != std::string::npos);
    CHECK(c.runs[0].command == std::vector<std::string>{"sh", "${SCRIPT}"});
    for (const char* bad :
         {"/etc/passwd", "../outside.sh", "examples/../../x.sh", "examples/story/missing.sh", ""}) {
        INFO(bad);
        CHECK_THROWS_AS(parse(valid_with({{"script", nullptr}, {"script_file", bad}})), CaseError);
    }
    CHECK_THROWS_AS(parse(valid_with({{"script_file", "examples/story/1-original.sh"}})),
                    CaseError);  // and "script"
}
