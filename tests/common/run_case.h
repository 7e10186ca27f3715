// The `run` scenarios as data: one JSON file per case in tests/kernel/scenarios/, read and
// checked here; tests/kernel/test_run_scenarios.cpp runs each one through `initwatch run`.
// No Catch2 and no kernel here: the unit tests check the format and every case file.
//
// A case file:
//   {
//     "name": "the test's name",                    required, unique
//     "about": "why the case exists",               optional
//     "script": ["#!/bin/sh", "line", ...],         the init's script, written to ${SCRIPT}, or
//     "script_file": "examples/story/2-....sh",     a script of the repository (relative to its top)
//     "command": ["sh", "${SCRIPT}"],               after `--`; this default needs "script"
//     "options": ["--timeout", "30"],               initwatch run's options, before `--`
//     "env": ["NAME=VALUE"],                        added to initwatch's environment
//     "timeout": 60,                                seconds before the test kills initwatch
//     "steps": [...],                               optional: run in the background, act on it
//     "expect": {
//       "status": 3,                                initwatch's exit status, or
//       "killed_by": "SIGSEGV",                     128 + that signal's number
//       "findings": 1,                              how many init_exit findings, required
//       "stdout_contains": ["..."], "stderr_contains": ["..."],
//       "finding": {"PATH": MATCHER, ...},          checks of the one finding (findings: 1)
//       "when": [RULE, ...],                        conditional checks of the finding
//       "events": [{"type": "exit", "where": {"PATH": MATCHER}, "count": MATCHER}]
//     },
//     "runs": [{"label": "...", ...}]               optional: several runs, each a JSON merge
//   }                                               patch (RFC 7386) of the fields above
//
// PATH: keys and array indices joined by dots ("live.0.argv"); "*" checks every element of an
// array ("live.*.how"). MATCHER: a JSON value (equal to it), or an object of operators, all of
// which must hold: "==", "!=", ">", ">=", "<", "<=", "type" (number, string, boolean, null,
// array, object), "starts_with", "ends_with", "contains" (strings), "size" (arrays, strings),
// "signal" (equal to that signal's number: "SIGKILL").
// RULE: {"if": {"PATH": MATCHER}, "warn": "text", "then": {"PATH": MATCHER}, "else": RULE};
// when every "if" holds (no "if": always), "warn" is printed and "then" checked, else "else".
// A string that is exactly "${NAME}" is replaced: upper-case names by the run's variables
// (SCRIPT, and the test programs), others by that PATH of the finding ("${init.pid}").
// STEP (in order; the init is found as initwatch's child):
//   {"wait_for_output": "text", "within": 30}   initwatch's stdout or stderr has it, or FAIL
//   {"wait_for_init_comm": "sleep", "within": 10}   waits for the init to exec it (no check)
//   {"signal_init": "SIGTERM"}                  sends it to the init, or FAIL
//   {"sleep": 0.3}                              seconds
//   {"init_alive": true}                        checks that the init is (or is not) alive
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace initwatch::test {

// A case file that cannot be run as written: the message names the file and the field.
struct CaseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct CaseExpect {
    std::optional<int> status;  // killed_by is turned into 128 + its number
    int findings = 0;
    std::vector<std::string> stdout_contains, stderr_contains;
    nlohmann::json finding = nlohmann::json::object();  // PATH -> MATCHER
    nlohmann::json when = nlohmann::json::array();      // RULEs
    nlohmann::json events = nlohmann::json::array();
};

struct CaseRun {
    std::string label;   // "" for a case of one run
    std::string script;  // its text; "" when the case has none
    std::vector<std::string> command, options, env;
    double timeout_s = 60;
    nlohmann::json steps = nlohmann::json::array();
    CaseExpect expect;
};

struct RunCase {
    std::string name, about;
    std::vector<CaseRun> runs;
};

using Variables = std::map<std::string, nlohmann::json>;

// The test programs a case can run (tests/testprogs/), as ${NAME}: the kernel tests give
// their paths.
inline std::vector<std::string> program_variable_names() {
    return {"THREADED_INIT", "EXEC_FROM_THREAD", "CRASHING_INIT"};
}

// Parses and validates a case file's text; `file` names it in messages. Variables used as
// ${NAME} must be among `variables` (SCRIPT is always known). A "script_file" is read below
// `top` (the repository's top directory). Throws CaseError.
RunCase parse_run_case(const std::string& text, const std::string& file,
                       const std::vector<std::string>& variables, const std::string& top);

// The signal number of "SIGKILL" and the like; nullopt for other names.
std::optional<int> signal_number(const std::string& name);

// The outcome of checking a run's output against what the case expects.
struct Verdict {
    std::vector<std::string> failures, warnings;
    size_t checks = 0;  // how many checks ran
};

// What one run of initwatch produced.
struct RunOutput {
    int status = -1;
    std::string out, err;
    std::vector<nlohmann::json> lines;  // the JSON lines of --output
};

// Checks `output` against `expect`, ${NAME} replaced from `variables` and the finding.
Verdict check_run(const CaseExpect& expect, const RunOutput& output, const Variables& variables);

// `value` with every "${NAME}" string replaced from `variables`; throws CaseError on an
// unknown name.
nlohmann::json substitute(const nlohmann::json& value, const Variables& variables);

}  // namespace initwatch::test
