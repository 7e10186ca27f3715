// The `run` scenarios: every case file in tests/kernel/scenarios/ (the format is in
// tests/common/run_case.h) is one test, registered at startup under the case's name. Each run
// of a case starts `initwatch run` on the real kernel with the case's options, environment
// and command (its script as PID 1 of a new namespace), optionally acts on it (steps), and
// checks the exit status, the output and the JSON finding field by field. A new case is a
// new file; a file that cannot be read as a case fails its test with the reason.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <set>
#include <thread>

#include "../common/run_case.h"
#include "harness.h"

using namespace initwatch::ktest;
using initwatch::test::CaseError;
using initwatch::test::CaseRun;
using initwatch::test::RunOutput;
using initwatch::test::Variables;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The paths of initwatch::test::program_variable_names().
Variables program_variables() {
    return {{"THREADED_INIT", THREADED_INIT_BIN},
            {"EXEC_FROM_THREAD", EXEC_FROM_THREAD_BIN},
            {"CRASHING_INIT", CRASHING_INIT_BIN}};
}

initwatch::test::RunCase read_case(const std::string& path) {
    const std::string text = read_file(path);
    if (text.empty()) throw CaseError(path + ": empty or unreadable");
    return initwatch::test::parse_run_case(text, fs::path(path).filename().string(),
                                           initwatch::test::program_variable_names(), TOP_DIR);
}

std::vector<std::string> strings(const std::vector<std::string>& values, const Variables& variables) {
    return initwatch::test::substitute(json(values), variables).get<std::vector<std::string>>();
}

// initwatch run in the background, driven by the case's steps, then finished.
Result run_with_steps(const CaseRun& run, const std::vector<std::string>& args,
                      const std::vector<std::string>& env) {
    const std::string output = temp_path("scenario.json");
    std::vector<std::string> argv{"run", "--json", "--output", output};
    argv.insert(argv.end(), args.begin(), args.end());
    Background bg(argv, output, INITWATCH_BIN, env);
    pid_t init = 0;
    // The init is initwatch's child: found once a step needs it.
    auto the_init = [&] {
        const std::string children =
            "/proc/" + std::to_string(bg.pid()) + "/task/" + std::to_string(bg.pid()) + "/children";
        for (int i = 0; i < 200 && !init; ++i) {
            const std::string pids = read_file(children);
            if (!pids.empty())
                init = std::stoi(pids);
            else
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        INFO(bg.output_so_far());
        REQUIRE(init > 0);
        return init;
    };
    for (const json& step : run.steps) {
        INFO("step " << step.dump());
        if (step.contains("wait_for_output")) {
            REQUIRE(bg.wait_for_output(step.at("wait_for_output").get<std::string>(),
                                       step.at("within").get<double>()));
        } else if (step.contains("wait_for_init_comm")) {
            const std::string comm = "/proc/" + std::to_string(the_init()) + "/comm";
            const std::string want = step.at("wait_for_init_comm").get<std::string>() + "\n";
            const auto until = deadline_in(step.at("within").get<double>());
            while (read_file(comm) != want && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else if (step.contains("signal_init")) {
            const int sig = *initwatch::test::signal_number(step.at("signal_init").get<std::string>());
            REQUIRE(kill(the_init(), sig) == 0);
        } else if (step.contains("sleep")) {
            std::this_thread::sleep_for(std::chrono::duration<double>(step.at("sleep").get<double>()));
        } else if (step.contains("init_alive")) {
            CHECK((kill(the_init(), 0) == 0) == step.at("init_alive").get<bool>());
        }
    }
    return bg.finish(run.timeout_s);
}

void run_once(const CaseRun& run) {
    require_root();
    Variables variables = program_variables();
    std::string script;
    if (!run.script.empty()) {
        script = temp_path("scenario.sh");
        write_file(script, run.script, 0755);
        variables["SCRIPT"] = script;
    }
    struct RemoveScript {
        std::string path;
        ~RemoveScript() {
            if (!path.empty()) unlink(path.c_str());
        }
    } remove_script{script};

    std::vector<std::string> args = strings(run.options, variables);
    args.push_back("--");
    const auto command = strings(run.command, variables);
    args.insert(args.end(), command.begin(), command.end());
    const auto env = strings(run.env, variables);
    const Result r =
        run.steps.empty() ? run_initwatch("run", args, run.timeout_s, env) : run_with_steps(run, args, env);

    INFO("initwatch stderr: " << r.err);
    const auto verdict =
        initwatch::test::check_run(run.expect, RunOutput{r.status, r.out, r.err, r.lines}, variables);
    for (const auto& w : verdict.warnings) WARN(w);
    for (const auto& f : verdict.failures) FAIL_CHECK(f);
}

void run_case_file(const std::string& path) {
    initwatch::test::RunCase c;
    try {
        c = read_case(path);
    } catch (const CaseError& e) {
        FAIL("malformed run scenario: " << e.what());
    }
    for (const auto& run : c.runs) {
        INFO(fs::path(path).filename().string() << (run.label.empty() ? "" : ", run: " + run.label));
        try {
            run_once(run);
        } catch (const CaseError& e) {
            FAIL_CHECK(e.what());
        }
    }
}

class CaseTest : public Catch::ITestInvoker {
public:
    CaseTest(std::string path, std::string problem) : path_(std::move(path)), problem_(std::move(problem)) {}
    void invoke() const override {
        if (!problem_.empty()) FAIL(problem_);
        run_case_file(path_);
    }

private:
    std::string path_, problem_;
};

// One test per case file, named after the case; a file that does not parse is a test named
// after the file, which fails with the parse error.
struct RegisterCases {
    RegisterCases() {
        static std::deque<std::string> storage;  // Catch2 keeps pointers to the names
        std::vector<std::string> files;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(SCENARIO_DIR, ec))
            if (entry.path().extension() == ".json") files.push_back(entry.path().string());
        std::sort(files.begin(), files.end());
        if (files.empty()) {
            const std::string& name = storage.emplace_back("run scenarios: the case files in " SCENARIO_DIR);
            Catch::AutoReg(new CaseTest("", "no *.json case file in " SCENARIO_DIR), {__FILE__, __LINE__},
                           Catch::StringRef(), Catch::NameAndTags{name});
            return;
        }
        std::set<std::string> names;
        for (const auto& file : files) {
            std::string name, problem;
            try {
                name = read_case(file).name;
            } catch (const CaseError&) {
                name = "run scenario " + fs::path(file).filename().string();  // the test says why
            }
            if (!names.insert(name).second) {
                problem = file + ": the name " + json(name).dump() + " is another case file's";
                name += " (" + fs::path(file).filename().string() + ")";
            }
            const std::string& stored_name = storage.emplace_back(name);
            const std::string& stored_file = storage.emplace_back(file);
            Catch::AutoReg(new CaseTest(file, problem), {stored_file.c_str(), 1}, Catch::StringRef(),
                           Catch::NameAndTags{stored_name});
        }
    }
} register_cases;

}  // namespace
