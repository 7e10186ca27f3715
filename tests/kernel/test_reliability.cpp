// Late start, lost events, lifecycle: initwatch on the real kernel under adverse conditions.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "harness.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

std::string shell_output(const std::string& cmd) {
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
        pclose(p);
    }
    return out;
}

}  // namespace

TEST_CASE("late start: a namespace started before initwatch is known from the snapshot") {
    require_root();
    const std::string fifo = temp_path("fifo");
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    // Init backgrounds a child, then waits for the test before exiting 0.
    REQUIRE(std::system(("unshare --pid --fork --mount-proc sh -c 'sleep 300 & read x < " + fifo +
                         "; exit 0' >/dev/null 2>&1 &")
                            .c_str()) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the child exists before initwatch

    const std::string output = temp_path("late.json");
    Background watch({"watch", "--json", "--output", output, "--count", "1", "--duration", "60",
                      "--log-level", "info"},
                     output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    std::ofstream(fifo) << "go\n";
    Result r = watch.finish(30);
    unlink(fifo.c_str());

    const auto findings = r.of_type("init_exit");
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
    // A 4 KiB ring holds about 20 fork and exit records: a burst must overflow it.
    Background watch({"watch", "--json", "--output", output, "--ring-buffer-size", "4096", "--duration",
                      "4", "--log-level", "info"},
                     output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    // Subshells forked in the background as fast as sh can: bursts faster than any drain.
    REQUIRE(std::system("sh -c 'i=0; while [ $i -lt 3000 ]; do ( : ) & i=$((i+1)); done; wait'") == 0);
    // A namespace whose init ends alone, in the middle of the storm: never a finding.
    REQUIRE(std::system("unshare --pid --fork --mount-proc sh -c 'sleep 0.1; exit 0'") == 0);
    Result r = watch.finish(30);

    const auto lost = r.of_type("lost");
    REQUIRE_FALSE(lost.empty());
    uint64_t total = 0;
    for (const json& l : lost) total += l.at("counts").value("ringbuf_full", 0ULL);
    CHECK(total > 0);
    CHECK(r.of_type("init_exit").empty());
}

TEST_CASE("SIGTERM ends watch within a second, with every BPF program detached") {
    require_root();
    const std::string output = temp_path("term.json");
    Background watch({"watch", "--json", "--output", output, "--log-level", "info"}, output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    const std::string progs_during = shell_output("bpftool prog show");
    CHECK(progs_during.find("handle_fork") != std::string::npos);

    const auto start = std::chrono::steady_clock::now();
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(5);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(r.status == 0);
    CHECK(seconds < 1.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // links are released with the fds
    const std::string progs_after = shell_output("bpftool prog show");
    CHECK(progs_after.find("handle_fork") == std::string::npos);
    CHECK(progs_after.find("handle_exec") == std::string::npos);
}

TEST_CASE("output to a closed pipe ends initwatch quietly") {
    require_root();
    const std::string err = temp_path("pipe-err");
    // head exits after one line; initwatch must notice at its next write and end, silently.
    const auto start = std::chrono::steady_clock::now();
    const int rc = std::system(("(" + std::string(INITWATCH_BIN) + " watch --events --json --duration 20 2>" + err +
                                "; echo $? > " + err + ".rc) | head -n 1 >/dev/null & "
                                "sleep 1; i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i+1)); done; wait")
                                   .c_str());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(rc == 0);
    CHECK(seconds < 10);
    CHECK(read_file(err) == "");
    CHECK(read_file(err + ".rc") == "0\n");
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
    const std::vector<std::string> cmd{"sh", "-c", "\"$0\" 30 & sleep 0.2; exit 0", link, ansi, utf8, invalid, huge};

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
        // The finding is a header, container, init, one line per process, diagnosis, blank.
        size_t lines = 0;
        for (char c : r.out) lines += c == '\n';
        CHECK(lines == 6);
    }
    unlink(link.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("--redact masks secrets in every output") {
    auto r = run_initwatch("run", {"--redact=--password=(\\S+)", "--redact", "tok_[a-z0-9]+", "--events", "--", "sh",
                                   "-c", "sleep 30 & exit 0", "x", "--password=hunter2", "tok_abc123"});
    REQUIRE(r.status == 3);
    CHECK(r.err.find("hunter2") == std::string::npos);
    for (const json& line : r.lines) {
        const std::string text = line.dump();
        CHECK(text.find("hunter2") == std::string::npos);
        CHECK(text.find("tok_abc123") == std::string::npos);
    }
    const auto findings = r.of_type("init_exit");
    REQUIRE(findings.size() == 1);
    const auto argv = findings[0].at("init").at("argv").get<std::vector<std::string>>();
    CHECK(argv == std::vector<std::string>{"sh", "-c", "sleep 30 & exit 0", "x", "--password=***", "***"});
}
