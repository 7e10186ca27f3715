// Late start, lost events, lifecycle: initwatch on the real kernel under adverse conditions.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.h"
#include "meta/mountinfo.h"

using namespace initwatch::ktest;
using nlohmann::json;

TEST_CASE("late start: a namespace started before initwatch is known from the snapshot") {
    require_root();
    const std::string fifo = temp_path("fifo"), log = temp_path("late-unshare");
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    // Init backgrounds a child, then waits for the test before exiting 0. `timeout` and
    // --kill-child end the namespace if the test never gets that far.
    REQUIRE(shell("timeout 120 unshare --pid --fork --kill-child --mount-proc sh -c 'sleep 300 & read x < " +
                      fifo + "; exit 0' iw-late-marker >" + log + " 2>&1 &",
                  10) == 0);
    // The child exists before initwatch starts (its exec can take 0.4 s under qemu).
    bool started = false;
    for (int i = 0; i < 1000 && !started; ++i) {
        started = shell("pgrep -x -f 'sleep 300' >/dev/null", 10) == 0;
        if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!started) FAIL("the namespace did not start (unshare --pid --fork --mount-proc): " << read_file(log));

    const std::string output = temp_path("late.json");
    Background watch({"watch", "--json", "--output", output, "--duration", "60", "--log-level", "info"},
                     output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    if (!write_fifo(fifo, "go\n", 30)) FAIL("the namespace's init never opened its FIFO: " << read_file(log));
    REQUIRE(watch.wait_for_finding("iw-late-marker", 30));
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(30);
    unlink(fifo.c_str());
    unlink(log.c_str());

    const auto findings = r.findings_with("iw-late-marker");
    REQUIRE(findings.size() == 1);
    const json& f = findings[0];
    CHECK(f.at("init").at("from_snapshot") == true);
    CHECK(f.at("init").at("exit_code") == 0);
    REQUIRE(f.at("live").size() == 1);
    const json& child = f.at("live")[0];
    CHECK(child.at("argv") == json::array({"sleep", "300"}));
    CHECK(child.at("how") == "background");
    CHECK(child.at("from_snapshot") == true);
    CHECK(child.at("ppid") == f.at("init").at("pid"));
}

TEST_CASE("lost events are reported, and make no wrong finding") {
    require_root();
    const std::string output = temp_path("lost.json");
    // A 4 KiB ring holds about 20 fork and exit records. The reader is stopped during the
    // burst, so the ring overflows however slowly the machine forks (50x slower under qemu).
    Background watch({"watch", "--json", "--output", output, "--ring-buffer-size", "4096", "--duration", "60",
                      "--log-level", "info"},
                     output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    REQUIRE(kill(watch.pid(), SIGSTOP) == 0);
    REQUIRE(shell("i=0; while [ $i -lt 200 ]; do ( : ) & i=$((i+1)); done; wait", 60) == 0);
    // A namespace whose init ends alone, in the middle of the storm: never a finding.
    REQUIRE(shell("unshare --pid --fork --mount-proc sh -c 'sleep 0.1; exit 0' iw-lost-marker", 30) == 0);
    REQUIRE(kill(watch.pid(), SIGCONT) == 0);
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);  // a stop reads the drop counters a last time
    Result r = watch.finish(30);

    const auto lost = r.of_type("lost");
    REQUIRE_FALSE(lost.empty());
    uint64_t total = 0;
    for (const json& l : lost) total += l.at("counts").value("ringbuf_full", 0ULL);
    CHECK(total > 0);
    CHECK(r.findings_with("iw-lost-marker").empty());
}

namespace {

// The BPF programs a process holds, from its fds (other tracers may run beside the test).
std::vector<std::string> bpf_prog_ids(pid_t pid) {
    std::vector<std::string> ids;
    const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo/";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::istringstream info(read_file(entry.path()));
        std::string line;
        while (std::getline(info, line))
            if (line.rfind("prog_id:", 0) == 0) ids.push_back(line.substr(line.find_first_not_of(" \t", 8)));
    }
    return ids;
}

// Whether the kernel still has BPF program `id`, as bpftool sees it.
bool bpf_prog_exists(const std::string& id) {
    initwatch::test::Command c;
    c.argv = {"bpftool", "prog", "show", "id", id};
    c.out = c.err = initwatch::test::Stream::discarded();
    c.timeout_s = 10;
    return initwatch::test::run(c).status == 0;
}

}  // namespace

TEST_CASE("SIGTERM ends watch within a second, with every BPF program detached") {
    require_root();
    const std::string output = temp_path("term.json");
    Background watch({"watch", "--json", "--output", output, "--log-level", "info"}, output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    const std::vector<std::string> ids = bpf_prog_ids(watch.pid());
    REQUIRE(ids.size() >= 3);  // fork, exec, exit (and the snapshot iterator)
    for (const auto& id : ids) CHECK(bpf_prog_exists(id));

    const auto start = std::chrono::steady_clock::now();
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(5);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(r.status == 0);
    CHECK(seconds < 1.0);
    // Programs are freed once their last fd and link are gone; give the kernel a moment.
    for (const auto& id : ids) {
        bool gone = false;
        for (int i = 0; i < 50 && !gone; ++i) {
            gone = !bpf_prog_exists(id);
            if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        CHECK(gone);
    }
}

TEST_CASE("output to a closed pipe ends initwatch with one line saying so, and status 2") {
    require_root();
    const std::string err = temp_path("pipe-err");
    // head exits after one line; initwatch must notice at its next write and end, saying why.
    const auto start = std::chrono::steady_clock::now();
    const int rc = shell(("(" + std::string(INITWATCH_BIN) + " watch --events --json --duration 60 2>" + err +
                          "; echo $? > " + err +
                          ".rc) | head -n 1 >/dev/null & "
                          "i=0; while [ ! -e " +
                          err +
                          ".rc ] && [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done; "
                          "wait"),
                         90);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(rc == 0);
    CHECK(seconds < 30);  // well before --duration: the closed pipe ended it
    CHECK(read_file(err).find("initwatch: watch stopped after ") == 0);
    CHECK(read_file(err).find(": cannot write to stdout: Broken pipe; exit status 2\n") != std::string::npos);
    CHECK(split_lines(read_file(err)).size() == 1);
    CHECK(read_file(err + ".rc") == "2\n");
    unlink(err.c_str());
    unlink((err + ".rc").c_str());
}

TEST_CASE("hostile argv and comm: escaped on one line in text, valid and lossless JSON") {
    require_root();
    // comm comes from the file name that was exec'd: a symlink with a terminal escape in it.
    const std::string dir = temp_path("hostile");
    REQUIRE(mkdir(dir.c_str(), 0700) == 0);
    const std::string evil_name = "\x1b[2Jevil\nname";
    const std::string link = dir + "/" + evil_name;
    REQUIRE(symlink("/bin/sleep", link.c_str()) == 0);
    const std::string ansi = "\x1b[31mred\nnext line";
    const std::string utf8 = "caf\xc3\xa9 \xe2\x98\x95";
    const std::string invalid = "bad\xff\xfe";
    const std::string huge(5000, 'A');
    const std::vector<std::string> cmd{"sh",    "-c", "\"$0\" 30 & sleep 0.2; exit 0", link, ansi, utf8,
                                       invalid, huge};

    SECTION("JSON") {
        std::vector<std::string> args{"--"};
        args.insert(args.end(), cmd.begin(), cmd.end());
        auto r = run_initwatch("run", args);  // every line is parsed: invalid JSON fails here
        REQUIRE(r.status == 3);
        const auto findings = r.of_type("init_exit");
        REQUIRE(findings.size() == 1);
        const json& init = findings[0].at("init");
        const auto argv = init.at("argv").get<std::vector<std::string>>();
        REQUIRE(argv.size() >= 7);
        CHECK(argv[3] == link);
        CHECK(argv[4] == ansi);
        CHECK(argv[5] == utf8);
        CHECK(argv[6] == "bad\xEF\xBF\xBD\xEF\xBF\xBD");
        CHECK(init.at("argv_truncated") == true);  // over 4 KiB
        const json& child = findings[0].at("live")[0];
        CHECK(child.at("comm") == evil_name.substr(0, 15));
    }
    SECTION("text") {
        std::vector<std::string> argv{"run", "--color", "never", "--"};
        argv.insert(argv.end(), cmd.begin(), cmd.end());
        auto r = run_raw(argv);
        REQUIRE(r.status == 3);
        CHECK(r.out.find('\x1b') == std::string::npos);
        CHECK(r.out.find("\\x1b[31mred\\nnext line") != std::string::npos);
        CHECK(r.out.find(utf8) != std::string::npos);
        CHECK(r.out.find("bad\\xff\\xfe") != std::string::npos);
        // The finding is a header, container, init, one line per process and the script's line
        // that started it (`sh -c`'s own text), diagnosis, blank.
        CHECK(r.out.find("↳ line 1 of the sh -c script: \"$0\" 30 & sleep 0.2; exit 0") != std::string::npos);
        size_t lines = 0;
        for (char c : r.out) lines += c == '\n';
        CHECK(lines == 7);
    }
    unlink(link.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("redaction: --redact masks secrets in every output") {
    require_root();
    // A secret in a comm too: comm comes from the file name that was exec'd, here a symlink.
    const std::string dir = temp_path("redact");
    REQUIRE(mkdir(dir.c_str(), 0700) == 0);
    const std::string link = dir + "/tok_sleep9";
    REQUIRE(symlink("/bin/sleep", link.c_str()) == 0);
    auto r = run_initwatch(
        "run", {"--redact=--password=(\\S+)", "--redact", "tok_[a-z0-9]+", "--redact-next-after=--pw",
                "--events", "--", "sh", "-c", "\"$0\" 30 & sleep 0.2; exit 0", link, "--password=hunter2",
                "tok_abc123", "--pw", "hunter3"});
    unlink(link.c_str());
    rmdir(dir.c_str());
    REQUIRE(r.status == 3);
    for (const char* secret : {"hunter2", "hunter3", "tok_abc123", "tok_sleep9"}) {
        INFO(secret);
        CHECK(r.err.find(secret) == std::string::npos);
        for (const json& line : r.lines) CHECK(line.dump().find(secret) == std::string::npos);
    }
    const auto findings = r.of_type("init_exit");
    REQUIRE(findings.size() == 1);
    const auto argv = findings[0].at("init").at("argv").get<std::vector<std::string>>();
    CHECK(argv == std::vector<std::string>{"sh", "-c", "\"$0\" 30 & sleep 0.2; exit 0", dir + "/***",
                                           "--password=***", "***", "--pw", "***"});
    const json& child = findings[0].at("live")[0];
    CHECK(child.at("comm") == "***");
}

namespace {

// A cgroup with the pids controller, v2 or (on hybrid hosts) v1; removed with its processes.
class PidsLimitedCgroup {
public:
    explicit PidsLimitedCgroup(int max) {
        // A controller is in one hierarchy at a time: v1's when mounted there, else cgroup2's.
        for (const auto& m : initwatch::meta::find_mounts("/proc/self/mountinfo", "cgroup", "pids"))
            if (dir_.empty()) dir_ = m.target;
        for (const auto& m : initwatch::meta::find_mounts("/proc/self/mountinfo", "cgroup2"))
            if (dir_.empty() &&
                read_file(m.target + "/cgroup.controllers").find("pids") != std::string::npos) {
                dir_ = m.target;
                v2_ = true;
            }
        REQUIRE_FALSE(dir_.empty());
        // cgroup2 without systemd: a child gets pids.* only once its parent enables the controller.
        if (v2_) std::ofstream(dir_ + "/cgroup.subtree_control") << "+pids\n";
        dir_ += "/initwatch-test-bomb-" + std::to_string(getpid());
        REQUIRE(mkdir(dir_.c_str(), 0755) == 0);
        std::ofstream(dir_ + "/pids.max") << max << "\n";
    }
    ~PidsLimitedCgroup() {
        for (int i = 0; i < 500 && rmdir(dir_.c_str()) != 0; ++i) {
            if (v2_) {
                std::ofstream(dir_ + "/cgroup.kill") << "1\n";
            } else {
                std::istringstream procs(read_file(dir_ + "/cgroup.procs"));
                for (pid_t pid; procs >> pid;) kill(pid, SIGKILL);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    bool v2_ = false;
};

}  // namespace

TEST_CASE("a fork bomb cannot grow initwatch past its process table bound", "[stress]") {
    require_root();
    const std::string output = temp_path("bomb.json");
    Background watch({"watch", "--json", "--output", output, "--max-processes", "300", "--log-level", "info"},
                     output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    const long before = proc_status_kib(watch.pid(), "RssAnon");
    REQUIRE(before > 0);
    {
        PidsLimitedCgroup cgroup(2000);
        // Sleepers as fast as sh can fork them, until the pids limit refuses more (and sh,
        // unable to fork, gives up: its status is of no interest).
        initwatch::test::Command bomb;
        bomb.argv = {"sh", "-c",
                     "echo $$ > " + cgroup.dir() +
                         "/cgroup.procs; i=0; while [ $i -lt 2500 ]; do sleep 3600 & i=$((i+1)); done",
                     "iw-bomb-marker"};
        bomb.out = bomb.err = initwatch::test::Stream::discarded();
        bomb.timeout_s = 120;
        initwatch::test::run(bomb);
        CHECK(std::stoi(read_file(cgroup.dir() + "/pids.current")) > 1000);
        std::this_thread::sleep_for(std::chrono::seconds(2));  // initwatch drains the storm
        // Anonymous memory is the heap: the tables. (File pages are the binary's own code.)
        const long after = proc_status_kib(watch.pid(), "RssAnon");
        const long total = proc_status_kib(watch.pid(), "VmHWM");
        WARN("initwatch anonymous RSS: " << before << " KiB before the bomb, " << after
                                         << " KiB after; peak RSS " << total << " KiB");
        CHECK(after - before < 4 * 1024);
        CHECK(total < 32 * 1024);
    }
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(10);
    CHECK(r.status == 0);
    uint64_t table_full = 0;
    for (const json& l : r.of_type("lost")) table_full += l.at("counts").value("process_table_full", 0ULL);
    CHECK(table_full > 0);                             // never silent
    CHECK(r.findings_with("iw-bomb-marker").empty());  // the bomb is no namespace: nothing to report
}
