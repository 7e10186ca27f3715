// /proc/PID/cmdline reads that hang (a dead FUSE mount behind argv) never hold the loop:
// here a FIFO without a writer stands for such a read.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "../common/subprocess.h"
#include "meta/cmdline_reader.h"

using namespace initwatch;
using namespace std::chrono_literals;
using meta::CmdlineReader;

namespace {

struct ProcDir {
    std::string root;
    ProcDir() {
        char tmpl[] = "/tmp/iw-proc-XXXXXX";
        REQUIRE(mkdtemp(tmpl));
        root = tmpl;
    }
    ~ProcDir() {
        test::Command rm;
        rm.argv = {"rm", "-rf", root};
        rm.timeout_s = 30;
        CHECK(test::run(rm).status == 0);
    }
    std::string dir(int pid) {
        const std::string d = root + "/" + std::to_string(pid);
        mkdir(d.c_str(), 0755);
        return d;
    }
    void cmdline(int pid, const std::string& bytes) { std::ofstream(dir(pid) + "/cmdline") << bytes; }
    std::string hanging(int pid) {
        const std::string path = dir(pid) + "/cmdline";
        REQUIRE(mkfifo(path.c_str(), 0600) == 0);
        return path;
    }
};

// Lets a reader stuck on the FIFO go: a writer appears and leaves at once.
void release(const std::string& fifo) {
    const int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) close(fd);
}

std::map<uint32_t, CmdlineReader::Result> take_all(CmdlineReader& reader, std::chrono::seconds bound) {
    std::map<uint32_t, CmdlineReader::Result> got;
    const auto until = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < until) {
        std::vector<CmdlineReader::Result> out;
        reader.take(out);
        for (auto& r : out) got[r.key.tgid] = std::move(r);
        if (reader.idle()) break;
        std::this_thread::sleep_for(10ms);
    }
    return got;
}

}  // namespace

TEST_CASE("a hanging read times out and the reads after it still come") {
    ProcDir proc;
    proc.cmdline(10, std::string("sh\0/startup.sh\0", 15));
    const std::string fifo = proc.hanging(11);
    proc.cmdline(12, std::string("sleep\0" "3600\0", 11));
    const auto started = std::chrono::steady_clock::now();
    {
        CmdlineReader reader(4095, 200ms, proc.root);
        reader.submit({{{10, 1}, 10}, {{11, 1}, 11}, {{12, 1}, 12}});
        auto got = take_all(reader, 5s);
        CHECK(reader.idle());
        REQUIRE(got.size() == 3);
        CHECK(got[10].argv == std::vector<std::string>{"sh", "/startup.sh"});
        CHECK(got[11].timed_out);
        CHECK(got[11].argv.empty());
        CHECK(got[12].argv == std::vector<std::string>{"sleep", "3600"});
        CHECK(reader.timed_out() == 1);
    }
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    release(fifo);
}

TEST_CASE("after several hanging reads the reader gives up on the rest at once") {
    ProcDir proc;
    std::vector<std::string> fifos;
    std::vector<CmdlineReader::Request> requests;
    for (int pid = 20; pid < 20 + static_cast<int>(CmdlineReader::kMaxAbandoned) + 3; ++pid) {
        fifos.push_back(proc.hanging(pid));
        requests.push_back({{static_cast<uint32_t>(pid), 1}, pid});
    }
    CmdlineReader reader(4095, 100ms, proc.root);
    reader.submit(requests);
    auto got = take_all(reader, 5s);
    CHECK(reader.idle());
    CHECK(got.size() == requests.size());
    for (auto& [pid, r] : got) CHECK(r.timed_out);
    for (const auto& f : fifos) release(f);
}

TEST_CASE("a process gone before its read is an empty argv, not an error") {
    ProcDir proc;
    CmdlineReader reader(4095, 1000ms, proc.root);
    reader.submit({{{99, 1}, 99}});
    auto got = take_all(reader, 5s);
    REQUIRE(got.size() == 1);
    CHECK_FALSE(got[99].timed_out);
    CHECK(got[99].argv.empty());
}
