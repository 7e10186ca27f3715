// `initwatch run` as a supervisor: how it stops its namespace on a signal, that it leaves
// no cgroup behind on any path, that concurrent runs do not disturb each other, and which
// exit status CI sees.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "fixtures/processes.h"
#include "harness.h"
#include "meta/mountinfo.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The mount `initwatch run` makes its cgroups under: the product's own choice.
std::string cgroup2_root() { return initwatch::meta::find_cgroup2_mount(); }

// The cgroup `initwatch run` with this pid makes for its init.
std::string run_cgroup(pid_t run_pid) { return cgroup2_root() + "/initwatch/run-" + std::to_string(run_pid); }

bool exists(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
}

// pid -> start time (field 22 of /proc/PID/stat): a pid reused later is not the same process.
using ProcessSet = std::map<pid_t, std::string>;

std::string start_time(pid_t pid) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return "";
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i) {
    }
    return field;
}

ProcessSet members(const std::string& cgroup) {
    ProcessSet out;
    std::istringstream procs(read_file(cgroup + "/cgroup.procs"));
    for (pid_t pid; procs >> pid;) out[pid] = start_time(pid);
    return out;
}

std::vector<pid_t> still_alive(const ProcessSet& set) {
    std::vector<pid_t> alive;
    for (const auto& [pid, start] : set)
        if (!start.empty() && start_time(pid) == start) alive.push_back(pid);
    return alive;
}

// The first child of `parent` (the init, for an `initwatch run`), within timeout_s.
pid_t child_of(pid_t parent, double timeout_s) {
    const auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
    const std::string path =
        "/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children";
    while (Clock::now() < until) {
        std::istringstream children(read_file(path));
        pid_t pid = 0;
        if (children >> pid) return pid;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
}

// An `initwatch run` of `script` in the background, up and its namespace populated.
struct StartedRun {
    std::string output = temp_path("lifecycle.json");
    std::unique_ptr<Background> run;
    std::string cgroup;
    ProcessSet processes;

    StartedRun(double grace_s, const std::vector<std::string>& command, size_t processes_expected) {
        require_root();
        std::vector<std::string> args{"run",         "--json", "--output", output,
                                      "--log-level", "info",   "--grace",  std::to_string(grace_s),
                                      "--"};
        args.insert(args.end(), command.begin(), command.end());
        run = std::make_unique<Background>(args, output);
        REQUIRE(run->wait_for_output("started", 30));
        cgroup = run_cgroup(run->pid());
        REQUIRE(exists(cgroup));
        for (int i = 0; i < 1000 && processes.size() < processes_expected; ++i) {
            processes = members(cgroup);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        INFO(run->output_so_far());
        REQUIRE(processes.size() >= processes_expected);
    }
};

}  // namespace

TEST_CASE(
    "run: SIGTERM, SIGHUP or SIGINT stops an init that ignores SIGTERM within its grace, leaving nothing") {
    const int sig = GENERATE(SIGTERM, SIGHUP, SIGINT);
    INFO("signal " << sig);
    constexpr double kGrace = 1;
    StartedRun r(kGrace, {"sh", test_script("ignores-sigterm.sh")}, 4);  // init, sleep, sh, sleep

    const auto sent = Clock::now();
    REQUIRE(kill(r.run->pid(), sig) == 0);
    Result result = r.run->finish(kGrace + 30);
    const double took = seconds_since(sent);
    WARN("signal " << sig << ": initwatch ended " << took << " s after it (grace " << kGrace << " s)");
    INFO("stderr: " << result.err);
    CHECK(result.status == 128 + sig);
    CHECK(took >= kGrace * 0.9);  // the init had its grace
    CHECK(took < kGrace + 2);
    CHECK(still_alive(r.processes).empty());
    CHECK_FALSE(exists(r.cgroup));
    CHECK(result.of_type("init_exit").empty());  // our own stop is no finding
}

TEST_CASE("run: a second signal skips the grace, not the cleanup") {
    constexpr double kGrace = 30;
    StartedRun r(kGrace, {"sh", test_script("ignores-sigterm.sh")}, 4);

    const auto sent = Clock::now();
    REQUIRE(kill(r.run->pid(), SIGTERM) == 0);
    // Two SIGTERMs sent back to back would merge into one pending signal.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(kill(r.run->pid(), SIGTERM) == 0);
    Result result = r.run->finish(kGrace);
    const double took = seconds_since(sent);
    WARN("second SIGTERM: initwatch ended " << took << " s after the first");
    INFO("stderr: " << result.err);
    CHECK(result.status == 128 + SIGTERM);
    CHECK(took < 3);
    CHECK(still_alive(r.processes).empty());
    CHECK_FALSE(exists(r.cgroup));
}

TEST_CASE("run: SIGTERM reaches an init that handles it, which ends before its grace") {
    constexpr double kGrace = 30;
    const std::string mark = temp_path("term-mark");
    StartedRun r(kGrace, {"sh", test_script("handles-sigterm.sh"), mark}, 2);  // init, sleep

    const auto sent = Clock::now();
    REQUIRE(kill(r.run->pid(), SIGTERM) == 0);
    Result result = r.run->finish(kGrace);
    const double took = seconds_since(sent);
    WARN("init with a SIGTERM handler: initwatch ended " << took << " s after SIGTERM");
    CHECK(result.status == 128 + SIGTERM);
    CHECK(read_file(mark) == "term\n");
    CHECK(took < 3);
    CHECK(still_alive(r.processes).empty());
    CHECK_FALSE(exists(r.cgroup));
    unlink(mark.c_str());
}

TEST_CASE("run: concurrent runs share the initwatch cgroup and each removes its own") {
    require_root();
    for (int round = 0; round < 3; ++round) {
        std::vector<std::unique_ptr<Background>> runs;
        std::vector<std::string> outputs;
        for (int i = 0; i < 4; ++i) {
            outputs.push_back(temp_path("concurrent.json"));
            runs.push_back(std::make_unique<Background>(
                std::vector<std::string>{"run", "--json", "--output", outputs.back(), "--", "sh", "-c",
                                         "sleep 0.2; exit 0"},
                outputs.back()));
        }
        for (auto& run : runs) {
            const std::string cgroup = run_cgroup(run->pid());
            Result r = run->finish(60);
            INFO("round " << round << ", stderr: " << r.err);
            CHECK(r.status == 0);
            CHECK(r.err.find("without a cgroup") == std::string::npos);
            CHECK(r.err.find("cannot") == std::string::npos);
            CHECK_FALSE(exists(cgroup));
        }
    }
}

// A process that entered the namespace from outside (setns, as `runc exec` does) and whose
// parent, outside, does not reap it: the kernel kills it when init exits, but init cannot
// finish exiting (nor be reaped) while its zombie is there. initwatch has seen the exit —
// a finding — and must neither hang nor lose the finding at --timeout.
TEST_CASE("run: a finding then --timeout is 3, and the wait for an unreapable init is bounded") {
    require_root();
    const std::string flag = temp_path("exit-now"), output = temp_path("unreaped.json");
    const double kTimeout = patience(4);
    Background run(
        {"run", "--json", "--output", output, "--log-level", "info", "--timeout", std::to_string(kTimeout),
         "--", "sh", "-c", "echo started; while [ ! -e " + flag + " ]; do sleep 0.05; done; exit 0"},
        output);
    const auto began = Clock::now();
    REQUIRE(run.wait_for_output("started", 30));
    const pid_t init = child_of(run.pid(), 10);
    REQUIRE(init > 0);
    const std::string cgroup = run_cgroup(run.pid());

    int ready[2], hold[2];
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    REQUIRE(pipe2(hold, O_CLOEXEC) == 0);
    const pid_t outside = fork();
    REQUIRE(outside >= 0);
    if (outside == 0) {
        close(ready[0]);
        close(hold[1]);
        const int ns = open(("/proc/" + std::to_string(init) + "/ns/pid").c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || setns(ns, CLONE_NEWPID) != 0) _exit(1);
        const pid_t entered = fork();  // in the namespace; its parent is not
        if (entered == 0) {
            execl("/bin/sleep", "sleep", "3600", static_cast<char*>(nullptr));
            _exit(127);
        }
        const std::string said = std::to_string(entered);
        (void)!write(ready[1], said.data(), said.size());
        close(ready[1]);
        char c;
        (void)!read(hold[0], &c, 1);  // never reaps `entered`: until the test is done
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    // However the test ends: the outside parent exits, its zombie child is reaped by our
    // reaper, and the init can finish.
    struct Release {
        int fd;
        pid_t pid;
        ~Release() {
            close(fd);
            kill(pid, SIGKILL);
            wait_exit(pid, 10);
        }
    } release{hold[1], outside};
    const auto said = read_until_eof(ready[0], 10);
    close(ready[0]);
    REQUIRE(said);
    REQUIRE(!said->empty());
    const pid_t entered = std::stoi(*said);
    const auto until = deadline_in(10);  // the entered process exec'd
    while (read_cmdline(entered) != std::vector<std::string>{"sleep", "3600"} && Clock::now() < until)
        sleep_ms(10);
    REQUIRE(read_cmdline(entered) == std::vector<std::string>{"sleep", "3600"});
    std::ofstream(flag).put('\n');

    Result r = run.finish(kTimeout + 30);
    const double took = seconds_since(began);
    WARN("finding, then an unreapable init: initwatch ended " << took << " s after start (--timeout "
                                                              << kTimeout << ")");
    unlink(flag.c_str());
    INFO("stderr: " << r.err);
    CHECK(r.status == 3);
    CHECK(r.err.find("healthy") == std::string::npos);
    const auto findings = r.of_type("init_exit");
    REQUIRE(findings.size() == 1);
    REQUIRE(findings[0].at("live").size() == 1);
    CHECK(findings[0].at("live")[0].at("argv") == json::array({"sleep", "3600"}));
    CHECK(took < kTimeout + 10);
    CHECK_FALSE(exists(cgroup));  // init had left it (cgroup_exit) before it got stuck
}

TEST_CASE("run: exit statuses CI can tell apart: init's own, a finding, initwatch's own error") {
    SECTION("init exits 2: passed through (initwatch's own errors are 125 in run)") {
        auto r = run_initwatch("run", {"--", "sh", "-c", "exit 2"});
        CHECK(r.status == 2);
        CHECK(r.of_type("init_exit").empty());
    }
    SECTION("init exits 3 or 125 on its own: 1, never a verdict of initwatch's") {
        for (const char* code : {"3", "125"}) {
            INFO("exit " << code);
            auto r = run_initwatch("run", {"--", "sh", "-c", std::string("exit ") + code});
            CHECK(r.status == 1);
            CHECK(r.err.find(std::string("(exit ") + code + ")") != std::string::npos);
            CHECK(r.of_type("init_exit").empty());
        }
    }
    SECTION("init exits 3 leaving a process behind: the finding, 3") {
        auto r = run_initwatch("run", {"--", "sh", "-c", "sleep 30 & exit 3"});
        CHECK(r.status == 3);
        CHECK(r.of_type("init_exit").size() == 1);
    }
    SECTION("initwatch cannot run: 125") {
        require_root();
        auto bad_btf = run_raw({"run", "--btf", "/nonexistent/vmlinux", "--", "true"});
        CHECK(bad_btf.status == 125);
        auto bad_flag = run_raw({"run", "--no-such-flag", "--", "true"});
        CHECK(bad_flag.status == 125);
        auto watch_bad_flag = run_raw({"watch", "--no-such-flag"});
        CHECK(watch_bad_flag.status == 2);  // `watch` keeps 2
    }
}
