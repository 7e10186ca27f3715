// The script reader on a made-up /proc: PID/root and PID/cwd are plain directories here (the
// real ones are magic links to a container's root and working directory).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "meta/script_reader.h"
#include "temp_dir.h"

using namespace initwatch;

namespace {

constexpr uint64_t kNow = 1'000'000'000ULL;

struct FakeProc {
    test::TempDir dir;
    std::filesystem::path root(uint32_t pid) const { return dir.path / std::to_string(pid) / "root"; }
    void write(uint32_t pid, const std::string& path, const std::string& text) const {
        const auto file = root(pid) / path;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream(file) << text;
    }
    void make_process(uint32_t pid) const {
        std::filesystem::create_directories(root(pid));
        std::filesystem::create_directories(dir.path / std::to_string(pid) / "cwd");
    }
};

model::Finding finding_of(const model::ProcKey& script, model::Launch launch) {
    model::Finding f;
    f.script_process = script;
    model::LiveProcess p;
    p.how = model::How::background;
    p.launch = std::move(launch);
    f.live.push_back(p);
    return f;
}

}  // namespace

TEST_CASE("the reader reads a script in the process's root, and a finding gets its line") {
    FakeProc proc;
    proc.make_process(42);
    proc.write(42, "my-app/startup.sh", "#!/bin/sh\n\nnohup node /my-app/server.js &\nexit\n");
    meta::ScriptReader reader(1 << 20, proc.dir.path.string());
    const model::ProcKey key{42, 7};
    reader.exec_seen(key, model::Argv{"/bin/sh", "/my-app/startup.sh"}, kNow);
    reader.wait(2000, kNow);
    CHECK_FALSE(reader.reading(key));
    model::Finding f = finding_of(key, model::Launch{model::Argv{"node", "/my-app/server.js"}, true, 1});
    reader.attach(f);
    REQUIRE(f.script);
    CHECK(f.script->file == "/my-app/startup.sh");
    CHECK(f.script->unread.empty());
    REQUIRE(f.live[0].source);
    CHECK(f.live[0].source->line == 3);
    CHECK(f.live[0].source->suggestion == "exec node /my-app/server.js");
    CHECK(reader.unread() == 0);
    CHECK(reader.bytes() > 0);

    SECTION("kept a while after its process exited, then forgotten") {
        reader.exited(key, kNow);
        reader.poll(kNow + meta::ScriptReader::kKeepNs);
        model::Finding again = finding_of(key, {});
        reader.attach(again);
        CHECK(again.script);
        reader.poll(kNow + meta::ScriptReader::kKeepNs + 1);
        model::Finding gone = finding_of(key, {});
        reader.attach(gone);
        CHECK_FALSE(gone.script);
        CHECK(reader.bytes() == 0);
    }
}

TEST_CASE("what the reader refuses, and says why") {
    FakeProc proc;
    proc.make_process(42);
    meta::ScriptReader reader(1 << 20, proc.dir.path.string());
    const model::ProcKey key{42, 7};
    auto unread_reason = [&](const model::Argv& argv) {
        reader.exec_seen(key, argv, kNow);
        reader.wait(2000, kNow);
        model::Finding f = finding_of(key, {});
        reader.attach(f);
        REQUIRE(f.script);
        return f.script->unread;
    };
    SECTION("a FIFO, never opened (a writer would block forever otherwise)") {
        REQUIRE(mkfifo((proc.root(42) / "fifo.sh").c_str(), 0644) == 0);
        CHECK(unread_reason({"sh", "/fifo.sh"}) == "not a regular file");
        CHECK(reader.unread() == 1);
    }
    SECTION("a file that is not there") {
        CHECK(unread_reason({"sh", "/missing.sh"}) == "not found in the container");
    }
    SECTION("a process already gone") {
        reader.exec_seen(model::ProcKey{43, 1}, {"sh", "/x.sh"}, kNow);
        model::Finding f = finding_of(model::ProcKey{43, 1}, {});
        reader.attach(f);
        REQUIRE(f.script);
        CHECK(f.script->unread == "its process was gone before it was read");
    }
    SECTION("an absolute symlink resolves inside the root") {
        proc.write(42, "real/startup.sh", "sleep 1 &\n");
        std::filesystem::create_symlink("/real/startup.sh", proc.root(42) / "link.sh");
        CHECK(unread_reason({"sh", "/link.sh"}).empty());
    }
    SECTION("past the memory bound") {
        meta::ScriptReader small(16, proc.dir.path.string());
        proc.write(42, "s.sh", "a &\nb &\nc &\n");
        small.exec_seen(key, {"sh", "/s.sh"}, kNow);
        small.wait(2000, kNow);
        model::Finding f = finding_of(key, {});
        small.attach(f);
        REQUIRE(f.script);
        CHECK(f.script->unread == "past the scripts' memory bound");
        CHECK(small.bytes() == 0);
    }
}

TEST_CASE(
    "sh -c needs no read; a program that is no shell script is not kept; a later exec keeps the script") {
    FakeProc proc;
    meta::ScriptReader reader(1 << 20, proc.dir.path.string());
    const model::ProcKey key{42, 7};
    reader.exec_seen(key, {"node", "server.js"}, kNow);
    model::Finding none = finding_of(key, {});
    reader.attach(none);
    CHECK_FALSE(none.script);

    reader.exec_seen(key, {"sh", "-c", "sleep 3600 & sleep 0.3"}, kNow);
    CHECK_FALSE(reader.reading(key));
    reader.exec_seen(key, {"sleep", "0.3"}, kNow);  // sh -c execs its last command
    model::Finding f = finding_of(key, model::Launch{model::Argv{"sleep", "3600"}, true, 1});
    reader.attach(f);
    REQUIRE(f.script);
    CHECK_FALSE(f.script->file);
    REQUIRE(f.live[0].source);
    CHECK(f.live[0].source->line == 1);
}
