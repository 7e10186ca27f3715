#include "run_case.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

namespace initwatch::test {

using nlohmann::json;

namespace {

// Function-local: case files are read while static objects are constructed (the kernel tests
// register one test per file at startup).
const std::set<std::string>& case_keys() {
    static const std::set<std::string> keys{"name", "about",   "script", "script_file", "command", "options",
                                            "env",  "timeout", "steps",  "expect",      "runs"};
    return keys;
}
const std::set<std::string>& run_keys() {
    static const std::set<std::string> keys{"label", "script",  "script_file", "command", "options",
                                            "env",   "timeout", "steps",       "expect"};
    return keys;
}
const std::set<std::string>& expect_keys() {
    static const std::set<std::string> keys{"status",          "killed_by", "findings", "stdout_contains",
                                            "stderr_contains", "finding",   "when",     "events"};
    return keys;
}
const std::set<std::string>& rule_keys() {
    static const std::set<std::string> keys{"if", "warn", "then", "else"};
    return keys;
}
const std::set<std::string>& event_keys() {
    static const std::set<std::string> keys{"type", "where", "count"};
    return keys;
}
const std::set<std::string>& operator_names() {
    static const std::set<std::string> keys{
        "==", "!=", ">", ">=", "<", "<=", "type", "starts_with", "ends_with", "contains", "size", "signal"};
    return keys;
}
const std::set<std::string>& type_names() {
    static const std::set<std::string> keys{"number", "string", "boolean", "null", "array", "object"};
    return keys;
}

std::string quoted(const std::string& s) { return json(s).dump(); }

// Long output in a message: its first bytes, JSON-escaped.
std::string excerpt(const std::string& s) {
    constexpr size_t kMax = 600;
    return s.size() <= kMax ? quoted(s) : quoted(s.substr(0, kMax)) + "...";
}

void only_keys(const json& object, const std::set<std::string>& allowed, const std::string& where) {
    for (const auto& [key, value] : object.items()) {
        (void)value;
        if (!allowed.count(key)) {
            std::string list;
            for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
            throw CaseError(where + ": unknown field " + quoted(key) + " (known: " + list + ")");
        }
    }
}

std::vector<std::string> strings(const json& value, const std::string& where) {
    if (!value.is_array()) throw CaseError(where + ": must be an array of strings");
    std::vector<std::string> out;
    for (const auto& v : value) {
        if (!v.is_string()) throw CaseError(where + ": must be an array of strings, has " + v.dump());
        out.push_back(v.get<std::string>());
    }
    return out;
}

// "${NAME}" -> NAME; nullopt for other strings.
std::optional<std::string> reference(const std::string& s) {
    if (s.size() < 4 || s.compare(0, 2, "${") != 0 || s.back() != '}') return std::nullopt;
    return s.substr(2, s.size() - 3);
}

bool is_variable_name(const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isupper(c) || std::isdigit(c) || c == '_';
    });
}

std::vector<std::string> split_path(const std::string& path, const std::string& where) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(path);
    while (std::getline(in, part, '.')) parts.push_back(part);
    if (path.empty() || path.back() == '.' ||
        std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); }))
        throw CaseError(where + ": " + quoted(path) +
                        " is not a field path (keys and indices joined by dots)");
    return parts;
}

// Checks every "${...}" string in `value`: run variables must be known, finding fields only
// where a finding is (`fields_ok`).
void check_references(const json& value, const std::set<std::string>& variables, bool fields_ok,
                      const std::string& where) {
    if (value.is_string()) {
        const std::string s = value.get<std::string>();
        const auto name = reference(s);
        if (!name) {
            if (s.find("${") != std::string::npos)
                throw CaseError(where + ": " + quoted(s) + ": only a whole string \"${NAME}\" is replaced");
            return;
        }
        if (is_variable_name(*name)) {
            if (!variables.count(*name)) {
                std::string list;
                for (const auto& v : variables) list += (list.empty() ? "" : ", ") + v;
                throw CaseError(where + ": unknown variable ${" + *name + "} (known here: " + list + ")");
            }
        } else if (!fields_ok) {
            throw CaseError(where + ": ${" + *name +
                            "} names a field of the finding, and there is none here");
        } else {
            split_path(*name, where);
        }
        return;
    }
    if (value.is_array() || value.is_object())
        for (const auto& [key, v] : value.items()) {
            (void)key;
            check_references(v, variables, fields_ok, where);
        }
}

void check_matcher(const json& m, const std::string& where) {
    if (!m.is_object()) return;  // a value to be equal to
    if (m.empty()) throw CaseError(where + ": an empty matcher (give a value, or operators)");
    only_keys(m, operator_names(), where);
    for (const auto& [op, operand] : m.items()) {
        const std::string at = where + " " + quoted(op);
        const bool ref = operand.is_string() && reference(operand.get<std::string>());
        if ((op == ">" || op == ">=" || op == "<" || op == "<=") && !operand.is_number() && !ref)
            throw CaseError(at + ": needs a number");
        if ((op == "starts_with" || op == "ends_with" || op == "contains") && !operand.is_string())
            throw CaseError(at + ": needs a string");
        if (op == "type" && !(operand.is_string() && type_names().count(operand.get<std::string>())))
            throw CaseError(at + ": needs one of number, string, boolean, null, array, object");
        if (op == "size" && !operand.is_number_unsigned() && !ref) throw CaseError(at + ": needs a count");
        if (op == "signal" && !(operand.is_string() && signal_number(operand.get<std::string>())))
            throw CaseError(at + ": needs a signal name such as \"SIGKILL\"");
    }
}

void check_field_checks(const json& checks, const std::string& where) {
    if (!checks.is_object()) throw CaseError(where + ": must be an object of field path: matcher");
    for (const auto& [path, matcher] : checks.items()) {
        split_path(path, where);
        check_matcher(matcher, where + "." + path);
    }
}

void check_rule(const json& rule, const std::string& where) {
    if (!rule.is_object()) throw CaseError(where + ": a rule must be an object");
    only_keys(rule, rule_keys(), where);
    if (rule.contains("if")) check_field_checks(rule.at("if"), where + ".if");
    if (rule.contains("then")) check_field_checks(rule.at("then"), where + ".then");
    if (rule.contains("warn") && !rule.at("warn").is_string())
        throw CaseError(where + ".warn: must be a string");
    if (rule.contains("else")) {
        if (!rule.contains("if")) throw CaseError(where + ": \"else\" without \"if\"");
        check_rule(rule.at("else"), where + ".else");
    }
    if (!rule.contains("then") && !rule.contains("warn"))
        throw CaseError(where + ": a rule needs \"then\" or \"warn\"");
}

double positive_number(const json& v, const std::string& where) {
    if (!v.is_number() || v.get<double>() <= 0)
        throw CaseError(where + ": must be a positive number of seconds");
    return v.get<double>();
}

void check_steps(const json& steps, const std::string& where) {
    if (!steps.is_array()) throw CaseError(where + ": must be an array of steps");
    for (size_t i = 0; i < steps.size(); ++i) {
        const json& s = steps[i];
        const std::string at = where + "[" + std::to_string(i) + "]";
        if (!s.is_object()) throw CaseError(at + ": a step must be an object");
        if (s.contains("wait_for_output") || s.contains("wait_for_init_comm")) {
            const char* key = s.contains("wait_for_output") ? "wait_for_output" : "wait_for_init_comm";
            only_keys(s, {key, "within"}, at);
            if (!s.at(key).is_string()) throw CaseError(at + "." + key + ": must be a string");
            if (!s.contains("within")) throw CaseError(at + ": a wait needs \"within\" (seconds)");
            positive_number(s.at("within"), at + ".within");
        } else if (s.contains("signal_init")) {
            only_keys(s, {"signal_init"}, at);
            if (!s.at("signal_init").is_string() || !signal_number(s.at("signal_init").get<std::string>()))
                throw CaseError(at + ".signal_init: needs a signal name such as \"SIGTERM\"");
        } else if (s.contains("sleep")) {
            only_keys(s, {"sleep"}, at);
            positive_number(s.at("sleep"), at + ".sleep");
        } else if (s.contains("init_alive")) {
            only_keys(s, {"init_alive"}, at);
            if (!s.at("init_alive").is_boolean()) throw CaseError(at + ".init_alive: must be true or false");
        } else {
            throw CaseError(at + ": unknown step " + s.dump() +
                            " (known: wait_for_output, wait_for_init_comm, signal_init, sleep, init_alive)");
        }
    }
}

CaseExpect parse_expect(const json& e, const std::set<std::string>& variables, const std::string& where) {
    if (!e.is_object()) throw CaseError(where + ": must be an object");
    only_keys(e, expect_keys(), where);
    CaseExpect x;
    if (e.contains("status") == e.contains("killed_by"))
        throw CaseError(where + ": needs one of \"status\" and \"killed_by\"");
    if (e.contains("status")) {
        const json& s = e.at("status");
        if (!s.is_number_integer() || s.get<int>() < 0 || s.get<int>() > 255)
            throw CaseError(where + ".status: must be an exit status (0 to 255)");
        x.status = s.get<int>();
    } else {
        const json& k = e.at("killed_by");
        const auto sig = k.is_string() ? signal_number(k.get<std::string>()) : std::nullopt;
        if (!sig) throw CaseError(where + ".killed_by: needs a signal name such as \"SIGSEGV\"");
        x.status = 128 + *sig;
    }
    if (!e.contains("findings") || !e.at("findings").is_number_unsigned())
        throw CaseError(where + ".findings: required, the number of init_exit findings");
    x.findings = e.at("findings").get<int>();
    if (e.contains("stdout_contains"))
        x.stdout_contains = strings(e.at("stdout_contains"), where + ".stdout_contains");
    if (e.contains("stderr_contains"))
        x.stderr_contains = strings(e.at("stderr_contains"), where + ".stderr_contains");
    const bool one_finding = x.findings == 1;
    if (e.contains("finding")) {
        if (!one_finding) throw CaseError(where + ".finding: checks one finding, and \"findings\" is not 1");
        check_field_checks(e.at("finding"), where + ".finding");
        x.finding = e.at("finding");
    }
    if (e.contains("when")) {
        if (!one_finding) throw CaseError(where + ".when: checks one finding, and \"findings\" is not 1");
        if (!e.at("when").is_array()) throw CaseError(where + ".when: must be an array of rules");
        for (size_t i = 0; i < e.at("when").size(); ++i)
            check_rule(e.at("when")[i], where + ".when[" + std::to_string(i) + "]");
        x.when = e.at("when");
    }
    if (e.contains("events")) {
        if (!e.at("events").is_array()) throw CaseError(where + ".events: must be an array");
        for (size_t i = 0; i < e.at("events").size(); ++i) {
            const json& ev = e.at("events")[i];
            const std::string at = where + ".events[" + std::to_string(i) + "]";
            if (!ev.is_object()) throw CaseError(at + ": must be an object");
            only_keys(ev, event_keys(), at);
            if (!ev.contains("type") || !ev.at("type").is_string())
                throw CaseError(at + ".type: required, a string");
            if (!ev.contains("count")) throw CaseError(at + ".count: required, a matcher");
            check_matcher(ev.at("count"), at + ".count");
            if (ev.contains("where")) check_field_checks(ev.at("where"), at + ".where");
        }
        x.events = e.at("events");
    }
    for (const char* key : {"status", "stdout_contains", "stderr_contains"})
        if (e.contains(key)) check_references(e.at(key), variables, false, where + "." + key);
    for (const char* key : {"finding", "when", "events"})
        if (e.contains(key)) check_references(e.at(key), variables, one_finding, where + "." + key);
    return x;
}

// A script of the repository, by its path from the top: no absolute path, no "..".
std::string script_of_repository(const json& value, const std::string& top, const std::string& where) {
    if (!value.is_string()) throw CaseError(where + ": must be a path relative to the repository's top");
    const std::string path = value.get<std::string>();
    if (path.empty() || path[0] == '/' || ("/" + path + "/").find("/../") != std::string::npos)
        throw CaseError(where + ": " + quoted(path) + " must be a path below the repository's top");
    std::ifstream in(top + "/" + path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || text.str().empty()) throw CaseError(where + ": cannot read " + quoted(top + "/" + path));
    return text.str();
}

CaseRun parse_run(const json& r, const std::set<std::string>& known, const std::string& where,
                  const std::string& top) {
    CaseRun run;
    std::set<std::string> variables = known;
    if (r.contains("script") && r.contains("script_file"))
        throw CaseError(where + ": \"script\" or \"script_file\", not both");
    if (r.contains("script")) {
        for (const auto& line : strings(r.at("script"), where + ".script")) run.script += line + "\n";
        variables.insert("SCRIPT");
    } else if (r.contains("script_file")) {
        run.script = script_of_repository(r.at("script_file"), top, where + ".script_file");
        variables.insert("SCRIPT");
    }
    if (r.contains("command")) {
        run.command = strings(r.at("command"), where + ".command");
        if (run.command.empty()) throw CaseError(where + ".command: must not be empty");
    } else if (!run.script.empty()) {
        run.command = {"sh", "${SCRIPT}"};
    } else {
        throw CaseError(where + ": needs \"command\" or \"script\"");
    }
    if (r.contains("options")) run.options = strings(r.at("options"), where + ".options");
    if (r.contains("env")) {
        run.env = strings(r.at("env"), where + ".env");
        for (const auto& e : run.env)
            if (e.find('=') == std::string::npos || e[0] == '=')
                throw CaseError(where + ".env: " + quoted(e) + " is not NAME=VALUE");
    }
    if (r.contains("timeout")) run.timeout_s = positive_number(r.at("timeout"), where + ".timeout");
    if (r.contains("steps")) {
        check_steps(r.at("steps"), where + ".steps");
        run.steps = r.at("steps");
    }
    for (const char* key : {"command", "options", "env"})
        if (r.contains(key)) check_references(r.at(key), variables, false, where + "." + key);
    if (run.command == std::vector<std::string>{"sh", "${SCRIPT}"})
        check_references("${SCRIPT}", variables, false, where);
    if (!r.contains("expect")) throw CaseError(where + ": needs \"expect\"");
    run.expect = parse_expect(r.at("expect"), variables, where + ".expect");
    return run;
}

// The values at `path` in `j` ("*" expands to every element); false when the path is not there.
bool values_at(const json& j, const std::vector<std::string>& parts, size_t i, const std::string& prefix,
               std::vector<std::pair<std::string, const json*>>& out) {
    if (i == parts.size()) {
        out.emplace_back(prefix, &j);
        return true;
    }
    const std::string& part = parts[i];
    const std::string here = prefix.empty() ? part : prefix + "." + part;
    if (part == "*") {
        if (!j.is_array()) return false;
        for (size_t k = 0; k < j.size(); ++k)
            if (!values_at(j[k], parts, i + 1, (prefix.empty() ? "" : prefix + ".") + std::to_string(k), out))
                return false;
        return true;
    }
    if (j.is_object()) {
        const auto it = j.find(part);
        return it != j.end() && values_at(*it, parts, i + 1, here, out);
    }
    if (j.is_array() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
        const size_t k = std::stoul(part);
        return k < j.size() && values_at(j[k], parts, i + 1, here, out);
    }
    return false;
}

const json* single_value(const json& j, const std::string& path) {
    std::vector<std::pair<std::string, const json*>> found;
    if (path.find('*') != std::string::npos || !values_at(j, split_path(path, path), 0, "", found) ||
        found.size() != 1)
        return nullptr;
    return found[0].second;
}

// `value` with "${...}" replaced: variables, then fields of `finding` (may be null).
json resolve(const json& value, const Variables& variables, const json* finding) {
    if (value.is_string()) {
        const auto name = reference(value.get<std::string>());
        if (!name) return value;
        if (is_variable_name(*name)) {
            const auto it = variables.find(*name);
            if (it == variables.end()) throw CaseError("unknown variable ${" + *name + "}");
            return it->second;
        }
        const json* field = finding ? single_value(*finding, *name) : nullptr;
        if (!field) throw CaseError("${" + *name + "}: the finding has no such field");
        return *field;
    }
    if (value.is_array() || value.is_object()) {
        json out = value;
        for (auto& [key, v] : out.items()) {
            (void)key;
            v = resolve(v, variables, finding);
        }
        return out;
    }
    return value;
}

const char* type_name(const json& v) {
    if (v.is_number()) return "number";
    if (v.is_string()) return "string";
    if (v.is_boolean()) return "boolean";
    if (v.is_null()) return "null";
    if (v.is_array()) return "array";
    return "object";
}

// Why `v` does not match the (resolved) matcher `m`; nullopt when it does.
std::optional<std::string> mismatch(const json& v, const json& m) {
    if (!m.is_object()) {
        if (v == m) return std::nullopt;
        return "expected " + m.dump() + ", got " + v.dump();
    }
    for (const auto& [op, x] : m.items()) {
        bool ok = true;
        if (op == "==")
            ok = v == x;
        else if (op == "!=")
            ok = v != x;
        else if (op == ">" || op == ">=" || op == "<" || op == "<=") {
            if (!v.is_number() || !x.is_number())
                return "expected a number " + op + " " + x.dump() + ", got " + v.dump();
            const double a = v.get<double>(), b = x.get<double>();
            ok = op == ">" ? a > b : op == ">=" ? a >= b : op == "<" ? a < b : a <= b;
        } else if (op == "type")
            ok = type_name(v) == x.get<std::string>();
        else if (op == "starts_with" || op == "ends_with" || op == "contains") {
            if (!v.is_string()) return "expected a string that " + op + " " + x.dump() + ", got " + v.dump();
            const std::string s = v.get<std::string>(), t = x.get<std::string>();
            ok = op == "starts_with" ? s.rfind(t, 0) == 0
                 : op == "ends_with"
                     ? s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0
                     : s.find(t) != std::string::npos;
        } else if (op == "size") {
            if (!v.is_array() && !v.is_string() && !v.is_object())
                return "expected a size of " + x.dump() + ", got " + v.dump();
            ok = json(v.is_string() ? v.get<std::string>().size() : v.size()) == x;
        } else if (op == "signal") {
            ok = v == json(*signal_number(x.get<std::string>()));
        }
        if (!ok) return "expected " + op + " " + x.dump() + ", got " + v.dump();
    }
    return std::nullopt;
}

enum class Outcome { holds, fails, missing };

// One PATH: MATCHER in `j`; `why` says what did not hold.
Outcome evaluate(const json& j, const std::string& path, const json& matcher, const Variables& variables,
                 const json* finding, std::vector<std::string>& why) {
    json m;
    try {
        m = resolve(matcher, variables, finding);
    } catch (const CaseError& e) {
        why.push_back(path + ": " + e.what());
        return Outcome::missing;
    }
    std::vector<std::pair<std::string, const json*>> found;
    if (!values_at(j, split_path(path, path), 0, "", found)) {
        why.push_back(path + ": no such field in " + excerpt(j.dump()));
        return Outcome::missing;
    }
    Outcome result = Outcome::holds;
    for (const auto& [at, value] : found)
        if (const auto reason = mismatch(*value, m)) {
            why.push_back(at + ": " + *reason);
            result = Outcome::fails;
        }
    return result;
}

// Checks each PATH: MATCHER of `checks` in `j`, adding failures (prefixed `what`).
void check_fields(const json& j, const json& checks, const Variables& variables, const json* finding,
                  const std::string& what, Verdict& verdict) {
    for (const auto& [path, matcher] : checks.items()) {
        ++verdict.checks;
        std::vector<std::string> why;
        evaluate(j, path, matcher, variables, finding, why);
        for (const auto& w : why) verdict.failures.push_back(what + "." + w);
    }
}

// Whether every condition holds. A condition on a field that is not there is a failure: a
// finding without the field is not what the case was written for.
bool conditions_hold(const json& finding, const json& conditions, const Variables& variables,
                     Verdict& verdict) {
    bool all = true;
    for (const auto& [path, matcher] : conditions.items()) {
        std::vector<std::string> why;
        const Outcome o = evaluate(finding, path, matcher, variables, &finding, why);
        if (o == Outcome::missing)
            for (const auto& w : why) verdict.failures.push_back("when: finding." + w);
        all = all && o == Outcome::holds;
    }
    return all;
}

// Whether every condition holds for one event line; a missing field does not.
bool event_matches(const json& line, const json& where, const Variables& variables, const json* finding) {
    for (const auto& [path, matcher] : where.items()) {
        std::vector<std::string> why;
        if (evaluate(line, path, matcher, variables, finding, why) != Outcome::holds) return false;
    }
    return true;
}

void apply_rule(const json& finding, const json& rule, const Variables& variables, Verdict& verdict) {
    if (rule.contains("if") && !conditions_hold(finding, rule.at("if"), variables, verdict)) {
        if (rule.contains("else")) apply_rule(finding, rule.at("else"), variables, verdict);
        return;
    }
    if (rule.contains("warn")) verdict.warnings.push_back(rule.at("warn").get<std::string>());
    if (rule.contains("then"))
        check_fields(finding, rule.at("then"), variables, &finding, "finding", verdict);
}

}  // namespace

std::optional<int> signal_number(const std::string& name) {
    static const std::map<std::string, int> kSignals{
        // function-local: see case_keys
        {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT}, {"SIGILL", SIGILL},
        {"SIGABRT", SIGABRT}, {"SIGBUS", SIGBUS},   {"SIGFPE", SIGFPE},   {"SIGKILL", SIGKILL},
        {"SIGUSR1", SIGUSR1}, {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2}, {"SIGPIPE", SIGPIPE},
        {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM}, {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT},
        {"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP}};
    const auto it = kSignals.find(name);
    if (it == kSignals.end()) return std::nullopt;
    return it->second;
}

json substitute(const json& value, const Variables& variables) { return resolve(value, variables, nullptr); }

RunCase parse_run_case(const std::string& text, const std::string& file,
                       const std::vector<std::string>& variables, const std::string& top) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        throw CaseError(file + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw CaseError(file + ": must be a JSON object");
    only_keys(j, case_keys(), file);
    RunCase c;
    if (!j.contains("name") || !j.at("name").is_string() || j.at("name").get<std::string>().empty())
        throw CaseError(file + ": needs \"name\", the test's name");
    c.name = j.at("name").get<std::string>();
    if (j.contains("about")) {
        if (!j.at("about").is_string()) throw CaseError(file + ".about: must be a string");
        c.about = j.at("about").get<std::string>();
    }
    const std::set<std::string> known(variables.begin(), variables.end());
    json base = j;
    for (const char* key : {"name", "about", "runs"}) base.erase(key);
    if (!j.contains("runs")) {
        c.runs.push_back(parse_run(base, known, file, top));
        return c;
    }
    const json& runs = j.at("runs");
    if (!runs.is_array() || runs.empty()) throw CaseError(file + ".runs: must be a non-empty array of runs");
    std::set<std::string> labels;
    for (size_t i = 0; i < runs.size(); ++i) {
        const std::string at = file + ".runs[" + std::to_string(i) + "]";
        const json& patch = runs[i];
        if (!patch.is_object()) throw CaseError(at + ": must be an object");
        only_keys(patch, run_keys(), at);
        if (!patch.contains("label") || !patch.at("label").is_string() ||
            patch.at("label").get<std::string>().empty())
            throw CaseError(at + ": needs \"label\", what this run is");
        const std::string label = patch.at("label").get<std::string>();
        if (!labels.insert(label).second) throw CaseError(at + ": label " + quoted(label) + " is used twice");
        json merged = base;
        json changes = patch;
        changes.erase("label");
        // A run's script replaces the case's, whichever way each is given.
        if (changes.contains("script") || changes.contains("script_file")) {
            merged.erase("script");
            merged.erase("script_file");
        }
        merged.merge_patch(changes);
        CaseRun run = parse_run(merged, known, at + " (" + label + ")", top);
        run.label = label;
        c.runs.push_back(std::move(run));
    }
    return c;
}

Verdict check_run(const CaseExpect& expect, const RunOutput& output, const Variables& variables) {
    Verdict v;
    ++v.checks;
    if (expect.status && output.status != *expect.status)
        v.failures.push_back("status: expected " + std::to_string(*expect.status) + ", got " +
                             std::to_string(output.status));
    for (const auto& [name, text, wanted] : {std::tuple{"stdout", &output.out, &expect.stdout_contains},
                                             std::tuple{"stderr", &output.err, &expect.stderr_contains}})
        for (const auto& s : *wanted) {
            ++v.checks;
            const std::string w = substitute(s, variables).get<std::string>();
            if (text->find(w) == std::string::npos)
                v.failures.push_back(std::string(name) + " does not contain " + quoted(w) + ": " +
                                     excerpt(*text));
        }
    std::vector<const json*> findings;
    for (const auto& l : output.lines)
        if (l.is_object() && l.value("type", "") == "init_exit") findings.push_back(&l);
    ++v.checks;
    if (findings.size() != static_cast<size_t>(expect.findings)) {
        std::string list;
        for (const json* f : findings) list += "\n  " + excerpt(f->dump());
        v.failures.push_back("findings: expected " + std::to_string(expect.findings) + " init_exit, got " +
                             std::to_string(findings.size()) + list);
        if (expect.findings == 1) return v;  // nothing to check the fields of
    }
    const json* finding = findings.size() == 1 ? findings[0] : nullptr;
    if (finding) {
        check_fields(*finding, expect.finding, variables, finding, "finding", v);
        for (const auto& rule : expect.when) apply_rule(*finding, rule, variables, v);
    }
    for (const auto& spec : expect.events) {
        ++v.checks;
        const std::string type = spec.at("type").get<std::string>();
        json where, count;
        try {
            where = resolve(spec.value("where", json::object()), variables, finding);
            count = resolve(spec.at("count"), variables, finding);
        } catch (const CaseError& e) {
            v.failures.push_back("events " + type + ": " + e.what());
            continue;
        }
        size_t n = 0;
        for (const auto& l : output.lines)
            if (l.is_object() && l.value("type", "") == type && event_matches(l, where, variables, finding))
                ++n;
        if (const auto why = mismatch(json(n), count))
            v.failures.push_back("events of type " + quoted(type) + " where " + where.dump() + ": count " +
                                 *why);
    }
    return v;
}

}  // namespace initwatch::test
