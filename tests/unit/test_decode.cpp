#include <initwatch/events.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "model/command_line.h"
#include "probe/decode.h"

using namespace initwatch;

namespace {

iw_task sample_task() {
    iw_task t{};
    t.key = {4242, 0, 111};
    t.parent = {4200, 0, 99};
    t.cgroup_id = 77;
    t.pidns_inum = 4026532200u;
    t.ns_pid = 1;
    t.ns_level = 1;
    t.flags = IW_TASK_SIGHUP_IGNORED;
    std::memcpy(t.comm, "0123456789abcdef", 16);  // full length, no NUL
    return t;
}

}  // namespace

TEST_CASE("decode a fork record") {
    iw_fork_event rec{};
    rec.hdr = {123, IW_EVENT_FORK, IW_EVENTS_VERSION, 0};
    rec.task = sample_task();
    auto ev = probe::decode_record(&rec, sizeof(rec));
    REQUIRE(ev);
    const auto& fork = std::get<model::ForkEvent>(*ev);
    CHECK(fork.ts_ns == 123);
    CHECK(fork.task.key == model::ProcKey{4242, 111});
    CHECK(fork.task.parent == model::ProcKey{4200, 99});
    CHECK(fork.task.cgroup_id == 77);
    CHECK(fork.task.ns_pid == 1);
    CHECK(fork.task.sighup_ignored);
    CHECK_FALSE(fork.task.session_leader);
    CHECK(fork.task.comm == "0123456789abcdef");
}

TEST_CASE("decode an exit record keeps the raw status and the init flag") {
    iw_exit_event rec{};
    rec.hdr = {5, IW_EVENT_EXIT, IW_EVENTS_VERSION, IW_EXIT_NS_INIT};
    rec.task = sample_task();
    rec.exit_code = 0;
    rec.ns_pids_allocated = 3;
    auto ev = probe::decode_record(&rec, sizeof(rec));
    REQUIRE(ev);
    const auto& exit = std::get<model::ExitEvent>(*ev);
    CHECK(exit.wait_status == 0);
    CHECK(exit.ns_init);
    CHECK(exit.ns_pids_allocated == 3);
}

TEST_CASE("decode a variable-length exec record") {
    const char args[] = "sh\0-c\0\0echo hi";  // an empty argument, last without NUL
    const size_t argv_len = sizeof(args) - 1;
    std::vector<unsigned char> buf(IW_EXEC_EVENT_FIXED_SIZE + argv_len);
    auto* rec = reinterpret_cast<iw_exec_event*>(buf.data());
    rec->hdr = {9, IW_EVENT_EXEC, IW_EVENTS_VERSION, IW_EXEC_ARGV_TRUNCATED};
    rec->task = sample_task();
    rec->old_pid = 4243;
    rec->argv_len = argv_len;
    std::strcpy(rec->filename, "/bin/sh");
    std::memcpy(buf.data() + IW_EXEC_EVENT_FIXED_SIZE, args, argv_len);

    auto ev = probe::decode_record(buf.data(), buf.size());
    REQUIRE(ev);
    const auto& exec = std::get<model::ExecEvent>(*ev);
    CHECK(exec.filename == "/bin/sh");
    CHECK(exec.old_pid == 4243);
    CHECK(exec.argv == std::vector<std::string>{"sh", "-c", "", "echo hi"});
    CHECK(exec.argv_truncated);
}

TEST_CASE("malformed records are rejected, not misread") {
    iw_fork_event rec{};
    rec.hdr = {1, IW_EVENT_FORK, IW_EVENTS_VERSION, 0};
    CHECK_FALSE(probe::decode_record(&rec, sizeof(rec) - 1));  // short
    rec.hdr.version = IW_EVENTS_VERSION + 1;
    CHECK_FALSE(probe::decode_record(&rec, sizeof(rec)));  // other layout
    rec.hdr.version = IW_EVENTS_VERSION;
    rec.hdr.type = 99;
    CHECK_FALSE(probe::decode_record(&rec, sizeof(rec)));  // unknown type

    std::vector<unsigned char> buf(IW_EXEC_EVENT_FIXED_SIZE + 4);
    auto* exec = reinterpret_cast<iw_exec_event*>(buf.data());
    exec->hdr = {1, IW_EVENT_EXEC, IW_EVENTS_VERSION, 0};
    exec->argv_len = 100;  // claims more than the record holds
    CHECK_FALSE(probe::decode_record(buf.data(), buf.size()));
}

TEST_CASE("argv from the kernel's NUL-separated bytes") {
    CHECK(model::Argv::from_bytes(std::string_view("", 0)).empty());
    CHECK(model::Argv::from_bytes(std::string_view("a\0b\0", 4)) == std::vector<std::string>{"a", "b"});
    CHECK(model::Argv::from_bytes(std::string_view("a\0\0", 3)) == std::vector<std::string>{"a", ""});
    CHECK(model::Argv::from_bytes(std::string_view("abc", 3)) == std::vector<std::string>{"abc"});
    CHECK(model::Argv::from_bytes(std::string_view("\0", 1)) == std::vector<std::string>{""});
}
