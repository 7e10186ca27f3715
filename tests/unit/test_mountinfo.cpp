#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "meta/cgroup_resolver.h"
#include "meta/mountinfo.h"
#include "temp_dir.h"

using initwatch::meta::find_cgroup2;
using initwatch::meta::find_cgroup2_mount;
using initwatch::meta::find_mounts;
using initwatch::meta::Mount;
using initwatch::meta::MountinfoLimits;
using initwatch::test::TempDir;

namespace {

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
    const std::string path = (dir.path / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

std::vector<std::string> targets(const std::vector<Mount>& mounts) {
    std::vector<std::string> out;
    for (const auto& m : mounts) out.push_back(m.target);
    return out;
}

const std::string kProc = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n";
const std::string kCgroup2 = "26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n";

}  // namespace

TEST_CASE("the cgroup2 mount is found in mountinfo, hybrid or unified") {
    TempDir dir;
    const auto hybrid =
        write(dir, "hybrid",
              "25 30 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
              "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev shared:10 - cgroup2 cgroup2 rw\n"
              "27 25 0:24 / /sys/fs/cgroup/cpu rw shared:11 - cgroup cgroup rw,cpu\n");
    CHECK(find_cgroup2_mount(hybrid) == "/sys/fs/cgroup/unified");

    const auto unified =
        write(dir, "unified", "30 1 0:26 / /host/sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n");
    CHECK(find_cgroup2_mount(unified) == "/host/sys/fs/cgroup");

    const auto daemonset = write(dir, "daemonset",
                                 "30 1 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n"
                                 "31 1 0:26 / /host/sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n");
    CHECK(find_cgroup2_mount(daemonset) == "/sys/fs/cgroup");
    CHECK(find_cgroup2_mount(daemonset, "/host") == "/host/sys/fs/cgroup");
    CHECK(find_cgroup2_mount(daemonset, "/host/") == "/host/sys/fs/cgroup");
    CHECK(find_cgroup2_mount(daemonset, "/elsewhere") == "/sys/fs/cgroup");

    CHECK(find_cgroup2_mount(write(dir, "none", kProc)).empty());
    CHECK_FALSE(find_cgroup2(write(dir, "none", kProc)));
}

TEST_CASE("mountinfo fields are unescaped: spaces, tabs, newlines and backslashes in paths") {
    TempDir dir;
    const auto path = write(dir, "escaped",
                            "26 25 0:23 /a\\040b /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n"
                            "27 25 0:24 / /mnt/t\\011ab\\012nl\\134bs rw - tmpfs my\\040src rw\n");
    const auto mounts = find_mounts(path);
    REQUIRE(mounts.size() == 2);
    CHECK(mounts[0].root == "/a b");
    CHECK(mounts[0].target == "/sys/fs/cgroup x");
    CHECK(mounts[0].fstype == "cgroup2");
    CHECK(mounts[1].target == "/mnt/t\tab\nnl\\bs");
    CHECK(mounts[1].source == "my src");
    // The old parser split such a line on the space and returned "/sys/fs/cgroup\040x".
    CHECK(find_cgroup2_mount(path) == "/sys/fs/cgroup x");
}

TEST_CASE("the root field: the whole hierarchy wins over a bind mount of a subtree") {
    TempDir dir;
    const auto both =
        write(dir, "both", "40 1 0:26 /kubepods/pod1 /var/lib/cg rw - cgroup2 cgroup2 rw\n" + kCgroup2);
    const auto chosen = find_cgroup2(both);
    REQUIRE(chosen);
    CHECK(chosen->target == "/sys/fs/cgroup");
    CHECK(chosen->root == "/");

    const auto subtree =
        write(dir, "subtree", "40 1 0:26 /kubepods/pod1 /var/lib/cg rw - cgroup2 cgroup2 rw\n");
    REQUIRE(find_cgroup2(subtree));
    CHECK(find_cgroup2(subtree)->root == "/kubepods/pod1");
}

TEST_CASE("a subtree's cgroups are named by their whole path") {
    TempDir dir;
    std::filesystem::create_directories(dir.path / "cg/abc");
    const auto info =
        write(dir, "mountinfo",
              "40 1 0:26 /kubepods/pod1 " + (dir.path / "cg").string() + " rw - cgroup2 cgroup2 rw\n");
    initwatch::meta::CgroupResolver r(find_cgroup2(info));
    struct stat st {};
    REQUIRE(stat((dir.path / "cg/abc").c_str(), &st) == 0);
    r.path_of(st.st_ino);  // asks for the walk
    REQUIRE(r.wait_idle(5000));
    CHECK(r.path_of(st.st_ino) == "/kubepods/pod1/abc");
    REQUIRE(stat((dir.path / "cg").c_str(), &st) == 0);
    CHECK(r.path_of(st.st_ino) == "/kubepods/pod1");

    // Outside this cgroup namespace ("/.." in the root field): no name, paths from the mount.
    const auto outside = write(
        dir, "outside", "40 1 0:26 /../.. " + (dir.path / "cg").string() + " rw - cgroup2 cgroup2 rw\n");
    initwatch::meta::CgroupResolver o(find_cgroup2(outside));
    REQUIRE(stat((dir.path / "cg/abc").c_str(), &st) == 0);
    o.path_of(st.st_ino);
    REQUIRE(o.wait_idle(5000));
    CHECK(o.path_of(st.st_ino) == "/abc");
}

TEST_CASE("garbage lines are skipped, the mounts around them are kept") {
    TempDir dir;
    static const char kBinary[] = "\x00\xff\x1b[2J binary";
    const std::string garbage = std::string(kBinary, sizeof kBinary - 1) + "\n" +
                                "not a mount line at all\n"
                                "27 25 0:24\n"                               // cut short
                                "28 25 0:24 / /x rw no-separator cgroup2\n"  // no " - "
                                "\n" +
                                std::string(100000, 'A') + "\n";  // one long line
    const auto path = write(dir, "garbage", kProc + garbage + kCgroup2 + garbage);
    const auto mounts = find_mounts(path);
    CHECK(targets(mounts) == std::vector<std::string>{"/proc", "/sys/fs/cgroup"});
    CHECK(find_cgroup2_mount(path) == "/sys/fs/cgroup");
}

TEST_CASE("thousands of entries: parsed up to the entry and byte bounds") {
    TempDir dir;
    std::string many;
    for (int i = 0; i < 20000; ++i)
        many += std::to_string(100 + i) + " 1 0:50 / /run/m" + std::to_string(i) + " rw - tmpfs tmpfs rw\n";
    const auto first = write(dir, "first", kCgroup2 + many);
    const auto last = write(dir, "last", many + kCgroup2);

    CHECK(find_mounts(first).size() == MountinfoLimits{}.max_entries);
    CHECK(find_cgroup2_mount(first) == "/sys/fs/cgroup");
    CHECK(find_cgroup2_mount(last).empty());  // past the default 16384 entries: not read
    CHECK(find_mounts(last, "cgroup2", "", MountinfoLimits{1 << 20, 30000}).size() == 1);

    // The byte bound ends the table at the last whole line before it.
    const MountinfoLimits small{kCgroup2.size() + 10, 1000};
    CHECK(targets(find_mounts(first, "", "", small)) == std::vector<std::string>{"/sys/fs/cgroup"});
    CHECK(find_mounts(first, "", "", MountinfoLimits{kCgroup2.size() - 1, 1000}).empty());
}

TEST_CASE("queries by type and options, as libmount matches them") {
    TempDir dir;
    const auto path =
        write(dir, "v1",
              "25 30 0:22 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755\n"
              "27 25 0:24 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
              "28 25 0:25 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n"
              "29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n" +
                  kCgroup2);
    CHECK(targets(find_mounts(path, "cgroup", "memory")) ==
          std::vector<std::string>{"/sys/fs/cgroup/memory"});
    CHECK(targets(find_mounts(path, "cgroup", "pids")) == std::vector<std::string>{"/sys/fs/cgroup/pids"});
    CHECK(targets(find_mounts(path, "cgroup", "cpu")) ==
          std::vector<std::string>{"/sys/fs/cgroup/cpu,cpuacct"});
    CHECK(find_mounts(path, "cgroup,cgroup2").size() == 4);
    CHECK(find_mounts(path, "nocgroup,notmpfs").size() == 1);  // libmount's negation: cgroup2
    CHECK(find_mounts(path, "", "+nosuid").size() == 4);       // "+": the option itself
    CHECK(find_mounts(path, "", "nosuid").size() == 5);        // without: "suid" absent, true of all
}

TEST_CASE("what is not a readable regular file has no mounts, and never blocks") {
    TempDir dir;
    CHECK(find_mounts((dir.path / "missing").string()).empty());
    CHECK(find_mounts(dir.path.string()).empty());  // a directory
    const std::string fifo = (dir.path / "fifo").string();
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(find_mounts(fifo).empty());  // no writer: a blocking open would hang here
    CHECK(find_mounts(write(dir, "empty", "")).empty());
}

TEST_CASE("this process's own mount table parses whole") {
    std::ifstream in("/proc/self/mountinfo");
    size_t lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    REQUIRE(lines > 0);
    const auto mounts = find_mounts("/proc/self/mountinfo");
    CHECK(mounts.size() == lines);
    for (const auto& m : mounts) {
        CAPTURE(m.target);
        CHECK(!m.target.empty());
        CHECK(!m.fstype.empty());
    }
}
