// The one reader of files someone else controls (util/file.h): bounded, never blocking on a
// FIFO, a regular file only, symlinks resolved only as asked — with openat2 and without.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "temp_dir.h"
#include "util/file.h"

using namespace initwatch;
using util::ReadError;
using util::ReadOptions;
using util::Resolve;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}

util::Fd open_dir(const fs::path& p) {
    return util::open_file(AT_FDCWD, p.string(), O_PATH | O_DIRECTORY, Resolve::last_component);
}

}  // namespace

TEST_CASE(
    "a file is read whole within its bound, or its prefix with truncated, or refused when whole is asked") {
    test::TempDir dir;
    write(dir.path / "f", "0123456789");
    auto r = util::read_bounded(AT_FDCWD, (dir.path / "f").string(), ReadOptions{10});
    CHECK(r.ok());
    CHECK(r.data == "0123456789");
    CHECK_FALSE(r.truncated);
    r = util::read_bounded(AT_FDCWD, (dir.path / "f").string(), ReadOptions{4});
    CHECK(r.ok());
    CHECK(r.data == "0123");
    CHECK(r.truncated);
    r = util::read_bounded(AT_FDCWD, (dir.path / "f").string(), ReadOptions{4, true});
    CHECK(r.error == ReadError::too_large);
    CHECK(r.data.empty());
    r = util::read_bounded(AT_FDCWD, (dir.path / "missing").string(), ReadOptions{4});
    CHECK(r.error == ReadError::not_found);
}

TEST_CASE("a FIFO, a directory or a symlink in a file's place is refused at once") {
    test::TempDir dir;
    REQUIRE(mkfifo((dir.path / "fifo").c_str(), 0600) == 0);
    fs::create_directory(dir.path / "dir");
    write(dir.path / "real", "secret");
    fs::create_symlink(dir.path / "real", dir.path / "link");
    const auto started = std::chrono::steady_clock::now();
    CHECK(util::read_bounded(AT_FDCWD, (dir.path / "fifo").string(), ReadOptions{64}).error ==
          ReadError::not_regular);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
    CHECK(util::read_bounded(AT_FDCWD, (dir.path / "dir").string(), ReadOptions{64}).error ==
          ReadError::not_regular);
    CHECK(util::read_bounded(AT_FDCWD, (dir.path / "link").string(), ReadOptions{64}).error ==
          ReadError::symlink);
}

TEST_CASE("/proc files, whose size says 0, are read to their end") {
    const auto r = util::read_bounded(AT_FDCWD, "/proc/self/status", ReadOptions{1 << 16});
    REQUIRE(r.ok());
    CHECK(r.data.find("\nPid:") != std::string::npos);
    CHECK(util::proc_comm(static_cast<int>(getpid())) == "initwatch_unit_");
    CHECK(util::proc_comm(0).empty());
}

TEST_CASE("beneath: no symlink anywhere, no '..', with openat2 and component by component") {
    const bool openat2 = GENERATE(true, false);
    INFO("openat2: " << openat2);
    test::TempDir dir;
    write(dir.path / "top/a/b/file", "ok");
    write(dir.path / "outside", "secret");
    fs::create_directory_symlink(dir.path / "top/a", dir.path / "top/linked");
    fs::create_symlink(dir.path / "outside", dir.path / "top/a/b/to_outside");
    const util::Fd top = open_dir(dir.path / "top");
    REQUIRE(top);
    ReadOptions o{64, false, Resolve::beneath, openat2};
    auto r = util::read_bounded(top.get(), "a/b/file", o);
    CHECK(r.ok());
    CHECK(r.data == "ok");
    CHECK(util::read_bounded(top.get(), "linked/b/file", o).error == ReadError::symlink);
    CHECK(util::read_bounded(top.get(), "a/b/to_outside", o).error == ReadError::symlink);
    CHECK_FALSE(util::read_bounded(top.get(), "../outside", o).ok());
    CHECK_FALSE(util::read_bounded(top.get(), "a/../../outside", o).ok());
    CHECK_FALSE(util::read_bounded(top.get(), (dir.path / "outside").string(), o).ok());
}

TEST_CASE("in_root: absolute symlinks and '..' resolve inside the root, never above it") {
    const bool openat2 = GENERATE(true, false);
    INFO("openat2: " << openat2);
    test::TempDir dir;
    // The node has /etc/app/startup.sh with other text: the container's must be read.
    const fs::path node = dir.path / "node";
    const fs::path root = dir.path / "root";
    write(node / "etc/app/startup.sh", "the node's file");
    write(root / "etc/app/startup.sh", "the container's file");
    fs::create_directories(root / "my-app");
    // An absolute symlink in the image: resolves from the container's root.
    fs::create_symlink(node / "etc/app/startup.sh", root / "my-app/abs-node-path.sh");
    fs::create_symlink("/etc/app/startup.sh", root / "my-app/startup.sh");
    fs::create_symlink("../../../../../../etc/app/startup.sh", root / "my-app/dotdot.sh");
    fs::create_directory_symlink("/etc/app", root / "my-app/conf");
    fs::create_symlink("loop2", root / "loop1");
    fs::create_symlink("loop1", root / "loop2");
    const util::Fd fd = open_dir(root);
    REQUIRE(fd);
    ReadOptions o{64, false, Resolve::in_root, openat2};
    auto r = util::read_bounded(fd.get(), "/my-app/startup.sh", o);
    CHECK(r.ok());
    CHECK(r.data == "the container's file");
    r = util::read_bounded(fd.get(), "/my-app/dotdot.sh", o);
    CHECK(r.data == "the container's file");
    r = util::read_bounded(fd.get(), "my-app/conf/startup.sh", o);
    CHECK(r.data == "the container's file");
    r = util::read_bounded(fd.get(), "/../../../etc/app/startup.sh", o);
    CHECK(r.data == "the container's file");
    // A symlink to the node's path names a file the container does not have.
    CHECK(util::read_bounded(fd.get(), "/my-app/abs-node-path.sh", o).error == ReadError::not_found);
    CHECK(util::read_bounded(fd.get(), "/loop1", o).error == ReadError::symlink);
    CHECK(util::read_bounded(fd.get(), "/my-app", o).error == ReadError::not_regular);
}
