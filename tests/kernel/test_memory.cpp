// The byte budget on a real kernel: a namespace full of many-argument processes, far past
// --max-memory, against initwatch running in a memory cgroup it must not outgrow; and a pod's
// flood of cgroups against the cgroup cache's own bound.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "../common/raw_http.h"
#include "fixtures/cgroups.h"
#include "harness.h"
#include "meta/mountinfo.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

// A memory cgroup (cgroup2's memory controller, else cgroup v1's) with a hard limit; the
// processes left in it are killed when the test ends.
class MemoryCgroup {
public:
    explicit MemoryCgroup(uint64_t limit_bytes) {
        // A controller is in one hierarchy at a time: cgroup2's when it lists it, else v1's.
        for (const auto& m : initwatch::meta::find_mounts("/proc/self/mountinfo", "cgroup2"))
            if (dir_.empty() &&
                read_file(m.target + "/cgroup.controllers").find("memory") != std::string::npos) {
                dir_ = m.target;
                v2_ = true;
            }
        for (const auto& m : initwatch::meta::find_mounts("/proc/self/mountinfo", "cgroup", "memory"))
            if (dir_.empty()) dir_ = m.target;
        REQUIRE_FALSE(dir_.empty());
        if (v2_) std::ofstream(dir_ + "/cgroup.subtree_control") << "+memory\n";
        dir_ += "/initwatch-test-memory-" + std::to_string(getpid());
        REQUIRE(mkdir(dir_.c_str(), 0755) == 0);
        std::ofstream(dir_ + (v2_ ? "/memory.max" : "/memory.limit_in_bytes")) << limit_bytes << "\n";
    }
    ~MemoryCgroup() {
        for (int i = 0; i < 500 && rmdir(dir_.c_str()) != 0; ++i) {
            std::istringstream procs(read_file(dir_ + "/cgroup.procs"));
            for (pid_t pid; procs >> pid;) kill(pid, SIGKILL);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    const std::string& dir() const { return dir_; }
    // OOM kills in the cgroup so far (memory.events in v2, memory.oom_control in v1).
    long oom_kills() const {
        std::istringstream in(read_file(dir_ + (v2_ ? "/memory.events" : "/memory.oom_control")));
        std::string key;
        long value;
        while (in >> key >> value)
            if (key == "oom_kill") return value;
        return -1;
    }
    // The highest charge seen, where the kernel says (v1, and v2 from 5.19), else -1.
    long peak_bytes() const {
        const std::string peak = read_file(dir_ + (v2_ ? "/memory.peak" : "/memory.max_usage_in_bytes"));
        return peak.empty() ? -1 : std::stol(peak);
    }

private:
    std::string dir_;
    bool v2_ = false;
};

}  // namespace

TEST_CASE(
    "many-argument processes far past the budget: no OOM kill, the finding is whole and says what it dropped",
    "[stress]") {
    require_root();
    constexpr long kHolders = 10000;  // 4 KiB of argv each: 40 MiB, the budget is 16 MiB
    constexpr uint64_t kLimit = 96ull << 20;
    MemoryCgroup cgroup(kLimit);
    const std::string output = temp_path("memory.json");
    // The shell moves itself into the cgroup, then becomes initwatch: all it allocates is charged there.
    Background watch({"-c", "echo $$ > " + cgroup.dir() + "/cgroup.procs && exec \"$0\" \"$@\"",
                      INITWATCH_BIN, "watch", "--json", "--output", output, "--max-memory", "16MiB",
                      "--ring-buffer-size", "16777216", "--log-level", "info"},
                     output, "/bin/sh");
    REQUIRE(watch.wait_for_output("snapshot:", 30));

    const auto started = std::chrono::steady_clock::now();
    Result holders = run_raw(
        {"--pid", "--fork", ARGV_HOLDERS_BIN, std::to_string(kHolders), "4000", "0", "iw-memory-marker"}, 240,
        {}, "/usr/bin/unshare");
    REQUIRE(holders.status == 0);
    WARN(kHolders << " holders started and killed in "
                  << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
                  << " s");
    REQUIRE(watch.wait_for_finding("iw-memory-marker", 60));
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the exits of the killed holders

    CHECK(cgroup.oom_kills() == 0);
    REQUIRE(kill(watch.pid(), 0) == 0);  // alive
    const long hwm = proc_status_kib(watch.pid(), "VmHWM");
    WARN("initwatch peak RSS " << hwm << " KiB; memory cgroup peak " << cgroup.peak_bytes() / 1024
                               << " KiB (limit " << kLimit / 1024 << " KiB)");
    CHECK(hwm < 64 * 1024);

    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(10);
    CHECK(r.status == 0);
    const auto findings = r.findings_with("iw-memory-marker");
    REQUIRE(findings.size() == 1);
    const json& f = findings[0];
    const uint64_t live_count = f.at("live_count");
    const size_t listed = f.at("live").size();
    uint64_t unlisted = 0;
    for (const json& g : f.at("unlisted")) unlisted += g.at("count").get<uint64_t>();
    CHECK(listed <= 200);
    CHECK(listed + unlisted == live_count);
    uint64_t dropped = 0, ring_full = 0;
    for (const json& l : r.of_type("lost")) {
        dropped += l.at("counts").value("argv_dropped", 0ULL);
        ring_full += l.at("counts").value("ringbuf_full", 0ULL);
    }
    CHECK(dropped > 0);  // said, never silent
    if (f.at("incomplete") == false)
        CHECK(live_count == static_cast<uint64_t>(kHolders));
    else
        WARN("the ring overflowed (" << ring_full << " records): the finding says incomplete");
    CHECK(ring_full == 0);
}

namespace {

// What a pod allowed to create cgroups (Docker-in-Docker, kind, sysbox) can make: a chain of
// long-named cgroups, and many long-named siblings at its bottom. Removed when it goes.
class CgroupFlood {
public:
    CgroupFlood(const std::string& parent, int chain, int siblings) : top_(parent) {
        REQUIRE(mkdir(top_.c_str(), 0755) == 0);
        dirs_.push_back(top_);
        std::string at = top_;
        for (int i = 0; i < chain; ++i) {
            at += "/" + name(i);
            REQUIRE(mkdir(at.c_str(), 0755) == 0);
            dirs_.push_back(at);
        }
        const int fd = open(at.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        for (int i = 0; i < siblings; ++i) REQUIRE(mkdirat(fd, name(i).c_str(), 0755) == 0);
        close(fd);
        bottom_ = at;
        siblings_ = siblings;
    }
    ~CgroupFlood() {
        const int fd = open(bottom_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (int i = 0; fd >= 0 && i < siblings_; ++i) unlinkat(fd, name(i).c_str(), AT_REMOVEDIR);
        if (fd >= 0) close(fd);
        for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) rmdir(it->c_str());
    }

private:
    // 250 bytes: near NAME_MAX, the longest a path gets per level.
    static std::string name(int i) {
        std::string n = "flood" + std::to_string(i);
        return n + std::string(250 - n.size(), 'x');
    }
    std::string top_, bottom_;
    std::vector<std::string> dirs_;
    int siblings_ = 0;
};

}  // namespace

TEST_CASE("a pod's flood of cgroups neither stalls the event loop nor grows the agent past its cache bound",
          "[stress]") {
    require_root();
    // 20,000 cgroups of 3.7 KiB paths each: 74 MiB of paths, which the agent once held all of
    // (and as much again in its walk's queue: 26 MiB of RSS grew to 129 MiB).
    const std::string cgroup2 = cgroup2_mount();
    CgroupFlood flood(cgroup2 + "/initwatch-ktest-flood-" + random_hex(8), 14, 20000);
    const std::string output = temp_path("flood.json");
    Background watch(
        {"watch", "--json", "--output", output, "--metrics-address", "127.0.0.1:0", "--log-level", "info"},
        output);
    REQUIRE(watch.wait_for_output("snapshot:", 60));
    const uint16_t port = watch.metrics_port();
    REQUIRE(port != 0);
    const long before = proc_status_kib(watch.pid(), "VmRSS");

    // A container in a cgroup no walk has seen: its exec asks for a walk of the flooded tree,
    // and its finding waits for its path.
    const std::string victim = "/initwatch-ktest-flood-victim-" + random_hex(8);
    REQUIRE(mkdir((cgroup2 + victim).c_str(), 0755) == 0);
    REQUIRE(shell("sh -c 'echo $$ > " + cgroup2 + victim +
                      "/cgroup.procs; exec unshare --pid --fork sh -c \"sleep 30 & exit 0\" iw-flood-marker'",
                  60) == 0);
    // The loop stays responsive throughout: kubelet's probe of /healthz never sees it stall.
    double slowest = 0;
    int failed = 0;
    for (int i = 0; i < 30; ++i) {
        const auto reply = initwatch::test::http_get("127.0.0.1", port, "/healthz", patience(3));
        failed += reply.status != 200;
        slowest = std::max(slowest, reply.seconds);
        sleep_ms(100);
    }
    const bool found = watch.wait_for_finding("iw-flood-marker", 60);
    const long peak = proc_status_kib(watch.pid(), "VmHWM");
    const long after = proc_status_kib(watch.pid(), "VmRSS");
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    const Result r = watch.finish(30);
    kill_cgroup_processes(victim);
    rmdir((cgroup2 + victim).c_str());

    WARN("RSS " << before << " KiB before the walk, " << after << " KiB after, peak " << peak
                << " KiB; slowest /healthz " << slowest * 1000 << " ms");
    CHECK(failed == 0);
    CHECK(found);
    const auto findings = r.findings_with("iw-flood-marker");
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].at("container").at("cgroup_path") == victim);
    // The cache (4 MiB), the walk's queue (2 MiB) and malloc's slack: never the flood's size.
    CHECK(peak - before < 16 * 1024);
    CHECK(after - before < 8 * 1024);
}
