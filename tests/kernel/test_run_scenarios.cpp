// The startup scripts of the story, run by `initwatch run` as PID 1 of a new namespace on
// the real kernel; the JSON finding is checked field by field.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "harness.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

constexpr double kHealthyTimeout = 2.0;  // `run --timeout`: an init still running is healthy

std::vector<std::string> argv_of(const json& p) { return p.at("argv").get<std::vector<std::string>>(); }

const json& only_finding(const Result& r) {
    const auto findings = r.of_type("init_exit");
    REQUIRE(findings.size() == 1);
    static json keep;
    keep = findings[0];
    return keep;
}

void check_init(const json& init, const std::string& script) {
    CHECK(init.at("ns_pid") == 1);
    CHECK(init.at("pid").get<int>() > 1);
    CHECK(init.at("comm") == "sh");
    CHECK(argv_of(init) == std::vector<std::string>{"sh", script});
    CHECK(init.at("ran_ms").get<int>() >= 0);
}

// `nohup sleep 3600 &`: the fork of the script, which exec'd the server unless init exited
// first (the dev branch exits at once: the kernel may kill the fork before its exec).
void check_server(const json& server, const json& init) {
    if (server.at("execed") == false) {
        WARN("init exited before its background fork exec'd: reported as the fork it was");
        CHECK(argv_of(server) == argv_of(init));
        return;
    }
    if (argv_of(server) == std::vector<std::string>{"nohup", "sleep", "3600"}) {
        WARN("init exited between the fork's exec of nohup and nohup's exec of sleep");
        return;
    }
    CHECK(argv_of(server) == std::vector<std::string>{"sleep", "3600"});
    CHECK(server.at("comm") == "sleep");
    CHECK(server.at("sighup_ignored") == true);  // nohup
}

void check_server_left_in_background(const json& f, const std::string& script) {
    CHECK(f.at("type") == "init_exit");
    CHECK(f.at("severity") == "warning");
    CHECK(f.at("time").get<std::string>().back() == 'Z');
    CHECK(f.at("pidns").get<uint64_t>() > 0);
    CHECK(f.at("container").at("cgroup_id").get<uint64_t>() > 1);
    CHECK(f.at("container").at("cgroup_path").get<std::string>().rfind("/initwatch/run-", 0) == 0);
    check_init(f.at("init"), script);
    REQUIRE(f.at("init").at("exit_code").is_number());
    CHECK(f.at("init").at("exit_code") == 0);
    CHECK(f.at("init").at("signal").is_null());
    CHECK(f.at("init").at("core_dumped") == false);
    CHECK(f.at("live_count") == 1);
    REQUIRE(f.at("live").size() == 1);
    const json& server = f.at("live")[0];
    check_server(server, f.at("init"));
    CHECK(server.at("how") == "background");
    CHECK(server.at("ppid") == f.at("init").at("pid"));
    CHECK(server.at("ns_pid").get<int>() > 1);
    CHECK(server.at("chain") == json::array({f.at("init").at("pid")}));
    if (argv_of(server) == std::vector<std::string>{"sleep", "3600"})
        CHECK(f.at("diagnosis").get<std::string>().find("exec sleep 3600") != std::string::npos);
    CHECK(f.at("incomplete") == false);
}

}  // namespace

TEST_CASE("1-original: server in the foreground after synchronous daemons: no finding") {
    const auto s = scenario("1-original.sh");
    auto r = run_initwatch("run", {"--timeout", std::to_string(kHealthyTimeout), "--", "sh", s});
    CHECK(r.status == 0);
    CHECK(r.of_type("init_exit").empty());
    CHECK(r.err.find("healthy") != std::string::npos);
}

TEST_CASE("2-server-backgrounded: server left in the background, init exits 0: warning") {
    const auto s = scenario("2-server-backgrounded.sh");
    auto r = run_initwatch("run", {"--timeout", "30", "--", "sh", s}, 60, {"PRODUCTION_ENV=1"});
    CHECK(r.status == 3);
    const json& f = only_finding(r);
    check_server_left_in_background(f, s);
    CHECK(f.at("init").at("ran_ms").get<int>() >= 500);  // the two daemons ran first
}

TEST_CASE("3-dev-early-exit: development branch exits at once with the server backgrounded") {
    const auto s = scenario("3-dev-early-exit.sh");
    SECTION("PRODUCTION_ENV unset: exit code 0 right away") {
        auto r = run_initwatch("run", {"--timeout", "30", "--", "sh", s});
        CHECK(r.status == 3);
        CHECK(r.out.find("development environment") != std::string::npos);  // init's own stdout
        const json& f = only_finding(r);
        check_server_left_in_background(f, s);
    }
    SECTION("PRODUCTION_ENV set: as 2") {
        auto r = run_initwatch("run", {"--timeout", "30", "--", "sh", s}, 60, {"PRODUCTION_ENV=yes"});
        CHECK(r.status == 3);
        check_server_left_in_background(only_finding(r), s);
    }
}

TEST_CASE("4-fixed: daemons in the background, server in the foreground: no finding") {
    const auto s = scenario("4-fixed.sh");
    for (const std::string env : {"PRODUCTION_ENV=", "PRODUCTION_ENV=1"}) {
        INFO(env);
        auto r = run_initwatch("run", {"--timeout", std::to_string(kHealthyTimeout), "--", "sh", s}, 60, {env});
        CHECK(r.status == 0);
        CHECK(r.of_type("init_exit").empty());
    }
}

TEST_CASE("5-fixed-launcher: daemons from a background launcher, server in the foreground: no finding") {
    const auto s = scenario("5-fixed-launcher.sh");
    auto r = run_initwatch("run", {"--timeout", std::to_string(kHealthyTimeout), "--", "sh", s}, 60,
                           {"PRODUCTION_ENV=1"});
    CHECK(r.status == 0);
    CHECK(r.of_type("init_exit").empty());
}

TEST_CASE("daemons started by a helper that forks and returns are reparented to init") {
    const auto s = scenario("helper-daemons.sh");
    auto r = run_initwatch("run", {"--timeout", "30", "--", "sh", s});
    CHECK(r.status == 3);
    const json& f = only_finding(r);
    CHECK(f.at("severity") == "warning");
    CHECK(f.at("init").at("exit_code") == 0);
    REQUIRE(f.at("live").size() == 2);
    for (const json& p : f.at("live")) {
        CHECK(p.at("how") == "reparented");
        CHECK(argv_of(p) == std::vector<std::string>{"sleep", "3600"});
        CHECK(p.at("ppid") == f.at("init").at("pid"));
    }
}

TEST_CASE("a stopped init: SIGTERM is ignored by a PID 1 without a handler, SIGKILL is info") {
    require_root();
    const std::string output = temp_path("stop.json");
    Background run({"run", "--json", "--output", output, "--log-level", "info", "--", "sh",
                    scenario("wait-for-kill.sh")},
                   output);
    REQUIRE(run.wait_for_output("started", 30));
    // The init is initwatch's child: find it as the child of the run process.
    pid_t init = 0;
    for (int i = 0; i < 200 && !init; ++i) {
        const std::string children =
            read_file("/proc/" + std::to_string(run.pid()) + "/task/" + std::to_string(run.pid()) + "/children");
        if (!children.empty()) init = std::stoi(children);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(init > 0);
    // The script reaches `exec sleep` (an exec can take 0.4 s under qemu).
    for (int i = 0; i < 1000 && read_file("/proc/" + std::to_string(init) + "/comm") != "sleep\n"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));

    REQUIRE(kill(init, SIGTERM) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(kill(init, 0) == 0);  // still alive: the kernel drops SIGTERM for a namespace init
    REQUIRE(kill(init, SIGKILL) == 0);

    Result r = run.finish(30);
    CHECK(r.status == 3);
    const json& f = only_finding(r);
    CHECK(f.at("severity") == "info");
    CHECK(f.at("init").at("signal") == SIGKILL);
    CHECK(f.at("init").at("exit_code").is_null());
    CHECK(argv_of(f.at("init")) == std::vector<std::string>{"sleep", "3600"});  // exec replaced the script
    REQUIRE(f.at("live").size() == 1);
    CHECK(f.at("live")[0].at("how") == "background");
    CHECK(f.at("diagnosis").get<std::string>().find("SIGKILL") != std::string::npos);
}

// Both exit probes: group_dead (auto on 6.16+) and the signal->live fallback of older kernels.
TEST_CASE("a multi-threaded init whose main thread exits first: one exit, one finding") {
    const std::string probe = GENERATE(as<std::string>{}, "auto", "live-count");
    INFO("--exit-probe " << probe);
    auto r = run_initwatch("run", {"--exit-probe", probe, "--events", "--timeout", "30", "--", THREADED_INIT_BIN});
    CHECK(r.status == 3);
    const json& f = only_finding(r);
    CHECK(f.at("severity") == "warning");
    CHECK(f.at("init").at("exit_code") == 7);  // the last thread's status, not the leader's 0
    CHECK(f.at("init").at("ran_ms").get<int>() >= 150);  // the last thread's time, not the leader's
    REQUIRE(f.at("live").size() == 1);
    CHECK(argv_of(f.at("live")[0]) == std::vector<std::string>{"sleep", "3600"});

    const int init_pid = f.at("init").at("pid");
    int init_exits = 0;
    for (const json& e : r.of_type("exit"))
        if (e.at("pid") == init_pid) ++init_exits;
    CHECK(init_exits == 1);
}

TEST_CASE("exec from a non-leader thread keeps the process and its background child") {
    const std::string probe = GENERATE(as<std::string>{}, "auto", "live-count");
    INFO("--exit-probe " << probe);
    auto r = run_initwatch("run", {"--exit-probe", probe, "--events", "--timeout", "30", "--", EXEC_FROM_THREAD_BIN});
    CHECK(r.status == 3);
    const json& f = only_finding(r);
    const int init_pid = f.at("init").at("pid");
    CHECK(argv_of(f.at("init")) == std::vector<std::string>{"sh", "-c", "sleep 0.2; exit 0"});
    CHECK(f.at("init").at("exit_code") == 0);
    REQUIRE(f.at("live").size() == 1);
    CHECK(f.at("live")[0].at("how") == "background");
    bool saw_thread_exec = false;
    for (const json& e : r.of_type("exec"))
        if (e.at("pid") == init_pid && e.contains("old_pid") && e.at("old_pid") != init_pid) saw_thread_exec = true;
    CHECK(saw_thread_exec);
    int init_exits = 0;
    for (const json& e : r.of_type("exit"))
        if (e.at("pid") == init_pid) ++init_exits;
    CHECK(init_exits == 1);
}

TEST_CASE("run: init's own status when nothing is left, 128+signal when it crashed alone") {
    auto ok = run_initwatch("run", {"--", "sh", "-c", "exit 5"});
    CHECK(ok.status == 5);
    CHECK(ok.of_type("init_exit").empty());
    auto alone = run_initwatch("run", {"--", CRASHING_INIT_BIN, "alone"});
    CHECK(alone.status == 128 + SIGSEGV);
    CHECK(alone.of_type("init_exit").empty());
}

TEST_CASE("an init that crashes while its child runs is an error finding") {
    auto r = run_initwatch("run", {"--timeout", "30", "--", CRASHING_INIT_BIN});
    CHECK(r.status == 3);
    const json& f = only_finding(r);
    CHECK(f.at("severity") == "error");
    CHECK(f.at("init").at("signal") == SIGSEGV);
    CHECK(f.at("init").at("exit_code").is_null());
    REQUIRE(f.at("live").size() == 1);
    CHECK(f.at("live")[0].at("how") == "background");
}
