#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "meta/cgroup_resolver.h"
#include "temp_dir.h"

using initwatch::meta::CgroupCache;
using initwatch::meta::CgroupResolver;
using initwatch::meta::CgroupResolverLimits;
using initwatch::meta::WalkStats;
namespace fs = std::filesystem;

namespace {

using initwatch::test::TempDir;

uint64_t inode_of(const fs::path& p) {
    struct stat st {};
    stat(p.c_str(), &st);
    return st.st_ino;
}

// The walk and the cache as CgroupResolver's worker runs them, but in the caller's thread
// and on its synthetic clock: a miss walks at once, at most once per min_rescan_ns.
class SyncTree {
public:
    explicit SyncTree(std::string root, CgroupResolverLimits limits = {})
        : root_(std::move(root)), limits_(limits), cache_(limits, "/") {}

    std::optional<std::string> path_of(uint64_t id, uint64_t now_ns) {
        if (auto p = cache_.find(id)) return p;
        if (walked_ && now_ns - last_ns_ < limits_.min_rescan_ns) return std::nullopt;
        walked_ = true;
        last_ns_ = now_ns;
        const std::unordered_set<uint64_t> keep{id};
        cache_.begin_walk();
        cache_.see(inode_of(root_), "", 0, now_ns, keep);
        last_ = initwatch::meta::walk_cgroup_tree(root_, limits_,
                                                  [&](uint64_t i, const std::string& path, size_t depth) {
                                                      cache_.see(i, path, depth, now_ns, keep);
                                                  });
        cache_.end_walk(last_, now_ns, keep);
        return cache_.find(id);
    }
    const WalkStats& last_walk() const { return last_; }
    size_t size() const { return cache_.size(); }
    size_t bytes() const { return cache_.bytes(); }

private:
    std::string root_;
    CgroupResolverLimits limits_;
    CgroupCache cache_;
    WalkStats last_;
    uint64_t last_ns_ = 0;
    bool walked_ = false;
};

}  // namespace

TEST_CASE("a cgroup id is the inode of its directory") {
    TempDir dir;
    fs::create_directories(dir.path / "kubepods/burstable/pod123/abc");
    SyncTree r(dir.path.string());
    CHECK(r.path_of(inode_of(dir.path), 1) == "/");
    CHECK(r.path_of(inode_of(dir.path / "kubepods/burstable/pod123/abc"), 1) ==
          "/kubepods/burstable/pod123/abc");

    SECTION("a new cgroup is found by a rescan") {
        fs::create_directories(dir.path / "late");
        CHECK(r.path_of(inode_of(dir.path / "late"), 1'000'000'000) == "/late");
    }
    SECTION("a removed cgroup keeps its path: its exits arrive during teardown") {
        const uint64_t id = inode_of(dir.path / "kubepods/burstable/pod123/abc");
        fs::remove(dir.path / "kubepods/burstable/pod123/abc");
        CHECK_FALSE(r.path_of(1, 2'000'000'000));  // a walk that no longer sees it
        CHECK(r.path_of(id, 2'000'000'000) == "/kubepods/burstable/pod123/abc");
    }
    SECTION("unknown ids are unknown") { CHECK_FALSE(r.path_of(1, 3'000'000'000)); }
    SECTION("misses walk the tree at most once per min_rescan_ns") {
        fs::create_directories(dir.path / "late");
        const uint64_t late = inode_of(dir.path / "late");
        CHECK_FALSE(r.path_of(1, 1'000'000'000));  // a walk: "late" is seen, 1 is not
        CHECK(r.last_walk().directories == 5);
        fs::create_directories(dir.path / "later");
        CHECK(r.path_of(late, 1'050'000'000) == "/late");                     // a hit
        CHECK_FALSE(r.path_of(inode_of(dir.path / "later"), 1'199'999'999));  // too soon: no walk
        CHECK(r.last_walk().directories == 5);
        CHECK(r.path_of(inode_of(dir.path / "later"), 1'200'000'000) == "/later");
        CHECK(r.last_walk().directories == 6);
    }
}

namespace {

constexpr uint64_t second = 1'000'000'000;

// Stand-in for a node's cgroup2 tree: `pods` pods of `containers` containers, kubepods style.
std::vector<fs::path> make_pods(const fs::path& root, int pods, int containers) {
    std::vector<fs::path> out;
    for (int p = 0; p < pods; ++p)
        for (int c = 0; c < containers; ++c) {
            out.push_back(root / "kubepods/burstable" / ("pod" + std::to_string(p)) /
                          ("c" + std::to_string(c)));
            fs::create_directories(out.back());
        }
    return out;
}

}  // namespace

TEST_CASE("cgroups created and removed during the walk are skipped; every lasting one is resolved") {
    TempDir dir;
    const auto stable = make_pods(dir.path, 30, 4);
    std::vector<uint64_t> ids;
    for (const auto& p : stable) ids.push_back(inode_of(p));

    // Containers torn down and started all the time, next to the lasting ones, nested like pods.
    std::atomic<bool> stop{false};
    std::atomic<long> churned{0};
    std::thread churn([&] {
        std::error_code ec;
        for (long n = 0; !stop; ++n) {
            const fs::path pod = dir.path / "kubepods/burstable" / ("pod" + std::to_string(n % 30));
            const fs::path doomed = pod / ("churn" + std::to_string(n % 7));
            fs::create_directories(doomed / "a/b/c", ec);
            fs::remove_all(doomed, ec);
            ++churned;
        }
    });

    // Each round is one walk (one clock reading, fresh resolver): every lasting cgroup must be in it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    int rounds = 0, missed = 0;
    size_t vanished = 0;
    for (; rounds < 400 && std::chrono::steady_clock::now() < deadline; ++rounds) {
        SyncTree r(dir.path.string());
        for (size_t i = 0; i < ids.size(); ++i) {
            const auto path = r.path_of(ids[i], second);
            if (!path || *path != "/" + fs::relative(stable[i], dir.path).string()) ++missed;
        }
        vanished += r.last_walk().vanished;
    }
    stop = true;
    churn.join();
    INFO(rounds << " walks, " << churned << " cgroups churned, " << vanished << " vanished while read");
    CHECK(rounds >= 20);
    CHECK(missed == 0);
}

TEST_CASE("the cache is bounded in bytes while cgroups churn, and the asked one is always answered") {
    TempDir dir;
    const auto stable = make_pods(dir.path, 20, 5);  // 100 lasting cgroups, more than the bound
    CgroupResolverLimits limits;
    limits.max_bytes = 32 * CgroupCache::entry_bytes(std::string(40, 'x'));
    limits.min_rescan_ns = 0;
    SyncTree r(dir.path.string(), limits);

    std::atomic<bool> stop{false};
    std::thread churn([&] {
        std::error_code ec;
        for (long n = 0; !stop; ++n) {
            const fs::path doomed = dir.path / "kubepods/besteffort" / ("pod-churn" + std::to_string(n % 50));
            fs::create_directories(doomed / "x", ec);
            if (n % 3 == 0) fs::remove_all(doomed, ec);
        }
    });
    uint64_t now = second;
    size_t largest = 0;
    int wrong = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    for (int round = 0; round < 5 && std::chrono::steady_clock::now() < deadline; ++round)
        for (const auto& p : stable) {
            now += second / 10;
            const auto path = r.path_of(inode_of(p), now);
            if (!path || *path != "/" + fs::relative(p, dir.path).string()) ++wrong;
            largest = std::max(largest, r.bytes());
        }
    stop = true;
    churn.join();
    CHECK(wrong == 0);
    CHECK(largest <= limits.max_bytes);
}

TEST_CASE("removed cgroups leave the cache after the grace period") {
    TempDir dir;
    fs::create_directories(dir.path / "kubepods/pod1/gone");
    const uint64_t id = inode_of(dir.path / "kubepods/pod1/gone");
    CgroupResolverLimits limits;
    limits.grace_ns = 10 * second;
    SyncTree r(dir.path.string(), limits);
    REQUIRE(r.path_of(id, 1 * second));
    const size_t before = r.size();
    fs::remove(dir.path / "kubepods/pod1/gone");

    CHECK_FALSE(r.path_of(1, 2 * second));  // a walk without it: gone since 2 s
    CHECK(r.path_of(id, 2 * second) == "/kubepods/pod1/gone");
    CHECK_FALSE(r.path_of(1, 11 * second));  // 9 s gone: kept
    CHECK(r.path_of(id, 11 * second));
    CHECK_FALSE(r.path_of(1, 13 * second));  // 11 s gone: forgotten
    CHECK(r.size() == before - 1);
    CHECK_FALSE(r.path_of(id, 14 * second));
}

TEST_CASE(
    "a walk is bounded in entries and depth, breadth first: a flood below one container hides no other") {
    TempDir dir;
    const fs::path attacker = dir.path / "kubepods/burstable/podA/attacker";
    const fs::path victim = dir.path / "kubepods/burstable/podB/victim";
    fs::create_directories(victim);
    for (int i = 0; i < 600; ++i) fs::create_directories(attacker / ("flood" + std::to_string(i)));
    fs::path deep = attacker;
    for (int i = 0; i < 40; ++i) deep /= "d";
    fs::create_directories(deep);

    CgroupResolverLimits limits;
    limits.max_walk_entries = 100;
    limits.max_depth = 32;
    SyncTree r(dir.path.string(), limits);
    CHECK(r.path_of(inode_of(victim), second) == "/kubepods/burstable/podB/victim");
    CHECK(r.last_walk().truncated);
    CHECK(r.last_walk().directories == 100);
    CHECK(r.size() <= 101);  // the root and what the walk visited

    SECTION("depth: nothing below max_depth") {
        CgroupResolverLimits deep_limits;
        deep_limits.max_depth = 10;
        SyncTree shallow(dir.path.string(), deep_limits);
        fs::path at_10 = attacker;
        for (int i = 0; i < 6; ++i) at_10 /= "d";  // kubepods/burstable/podA/attacker is at depth 4
        fs::path at_11 = at_10 / "d";
        CHECK(shallow.path_of(inode_of(at_10), second));
        CHECK_FALSE(shallow.path_of(inode_of(at_11), second));
        CHECK(shallow.last_walk().truncated);
    }
}

TEST_CASE("a walk's queue is bounded in bytes: long names deep down stop it there, not the memory") {
    TempDir dir;
    const fs::path victim = dir.path / "kubepods/burstable/podB/victim";
    fs::create_directories(victim);
    // A container (4 levels down, as a pod's) that may create cgroups makes long-named ones below its own.
    const std::string name(200, 'n');
    for (int i = 0; i < 200; ++i)
        fs::create_directories(dir.path / "kubepods/burstable/podA/attacker" / (name + std::to_string(i)) /
                               "x");
    CgroupResolverLimits limits;
    limits.max_walk_bytes = 8 * 1024;
    SyncTree r(dir.path.string(), limits);
    CHECK(r.path_of(inode_of(victim), second) == "/kubepods/burstable/podB/victim");
    CHECK(r.last_walk().truncated);
}

TEST_CASE("the resolver walks on its own thread: a miss never waits, the walk asked for answers it") {
    TempDir dir;
    fs::create_directories(dir.path / "kubepods/burstable/pod1/c1");
    const uint64_t id = inode_of(dir.path / "kubepods/burstable/pod1/c1");
    CgroupResolver r(dir.path.string());
    // The first ask misses (no walk yet) and asks for one.
    const auto first = r.path_of(id);
    if (!first) CHECK(r.walking());
    REQUIRE(r.wait_idle(5000));
    CHECK(r.path_of(id) == "/kubepods/burstable/pod1/c1");
    CHECK(r.walks() >= 1);

    fs::create_directories(dir.path / "late");
    const uint64_t late = inode_of(dir.path / "late");
    CHECK_FALSE(r.path_of(late));  // known to no walk yet
    CHECK(r.walking());
    REQUIRE(r.wait_idle(5000));
    CHECK(r.path_of(late) == "/late");
    CHECK_FALSE(r.walking());
}

TEST_CASE("a huge tree does not hold the asker: lookups answer while the walker works") {
    TempDir dir;
    for (int i = 0; i < 3000; ++i)
        fs::create_directories(dir.path / "flood" / std::to_string(i % 60) / std::to_string(i));
    CgroupResolver r(dir.path.string());
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) r.path_of(1'000'000'000 + i);  // unknown ids, asked at will
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
    REQUIRE(r.wait_idle(20000));
    CHECK(r.walks() <= 2);  // one walk for them all (and at most one more asked meanwhile)
    CHECK(r.size() > 3000);
}
