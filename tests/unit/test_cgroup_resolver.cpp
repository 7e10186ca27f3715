#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.h"
#include "meta/cgroup_resolver.h"

using initwatch::meta::CgroupResolver;
using initwatch::meta::find_cgroup2_mount;
namespace fs = std::filesystem;

namespace {

using initwatch::test::TempDir;

uint64_t inode_of(const fs::path& p) {
    struct stat st {};
    stat(p.c_str(), &st);
    return st.st_ino;
}

}  // namespace

TEST_CASE("the cgroup2 mount is found in mountinfo, hybrid or unified") {
    TempDir dir;
    const auto hybrid = dir.path / "hybrid";
    std::ofstream(hybrid)
        << "25 30 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
           "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev shared:10 - cgroup2 cgroup2 rw\n"
           "27 25 0:24 / /sys/fs/cgroup/cpu rw shared:11 - cgroup cgroup rw,cpu\n";
    CHECK(find_cgroup2_mount(hybrid) == "/sys/fs/cgroup/unified");

    const auto unified = dir.path / "unified";
    std::ofstream(unified) << "30 1 0:26 / /host/sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
    CHECK(find_cgroup2_mount(unified) == "/host/sys/fs/cgroup");

    const auto daemonset = dir.path / "daemonset";
    std::ofstream(daemonset) << "30 1 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n"
                                "31 1 0:26 / /host/sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n";
    CHECK(find_cgroup2_mount(daemonset) == "/sys/fs/cgroup");
    CHECK(find_cgroup2_mount(daemonset, "/host") == "/host/sys/fs/cgroup");
    CHECK(find_cgroup2_mount(daemonset, "/host/") == "/host/sys/fs/cgroup");

    const auto none = dir.path / "none";
    std::ofstream(none) << "22 1 0:21 / /proc rw - proc proc rw\n";
    CHECK(find_cgroup2_mount(none).empty());
}

TEST_CASE("a cgroup id is the inode of its directory") {
    TempDir dir;
    fs::create_directories(dir.path / "kubepods/burstable/pod123/abc");
    CgroupResolver r(dir.path.string());
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
        CHECK(r.path_of(id, 2'000'000'000) == "/kubepods/burstable/pod123/abc");
    }
    SECTION("unknown ids are unknown") { CHECK_FALSE(r.path_of(1, 3'000'000'000)); }
}
