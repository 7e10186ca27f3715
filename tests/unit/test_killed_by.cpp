// killed_by: the sender of the fatal signal that ended init or a worker, from signal and OOM
// records (decoded as the kernel sends them) through the tracker to the finding.
#include <initwatch/events.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstring>

#include "k8s/note.h"
#include "probe/decode.h"
#include "sim.h"

using namespace initwatch;
using initwatch::test::Sim;

namespace {

iw_task task_of_pid(uint32_t pid, uint32_t ns_pid, uint32_t level, uint32_t inum, const char* comm) {
    iw_task t{};
    t.key = {pid, 0, 1000 + pid};
    t.cgroup_id = 55;
    t.pidns_inum = inum;
    t.ns_pid = ns_pid;
    t.ns_level = level;
    std::strncpy(t.comm, comm, sizeof(t.comm));
    return t;
}

model::TrackerLimits young_workers() {
    model::TrackerLimits limits;
    limits.worker_min_age_ns = 0;
    return limits;
}

// A container: a shim on the node, its init (pid 100, `sleep infinity`), a worker (pid 101).
struct Container {
    Sim sim{young_workers()};
    model::ProcKey shim = sim.host(90);
    model::ProcKey init = sim.spawn_init(shim, 100, 4026532300);
    model::ProcKey worker;
    Container() {
        sim.exec(init, {"sh", "/startup.sh"});
        worker = sim.fork(init, 101);
        sim.exec(worker, {"node", "server.js"});
        sim.exec(init, {"sleep", "infinity"});
        sim.now += 2'000'000'000;
    }
    model::Finding worker_finding(uint32_t wait_status) {
        sim.exit(worker, wait_status);
        std::vector<model::Finding> out;
        sim.tracker.take_due(UINT64_MAX, out);
        REQUIRE(out.size() == 1);
        return out[0];
    }
};

}  // namespace

TEST_CASE("decode a signal record: the sender, or the kernel") {
    iw_signal_event rec{};
    rec.hdr = {7, IW_EVENT_SIGNAL, IW_EVENTS_VERSION, 0};
    rec.target = task_of_pid(4242, 1, 1, 4026532200u, "sleep");
    rec.sender = task_of_pid(812, 812, 0, 4026531836u, "runc");
    rec.sig = 9;
    rec.si_code = 0;
    auto ev = probe::decode_record(&rec, sizeof(rec));
    REQUIRE(ev);
    const auto& sig = std::get<model::SignalEvent>(*ev);
    CHECK(sig.ts_ns == 7);
    CHECK(sig.task.key == model::ProcKey{4242, 5242});
    CHECK(sig.signal == 9);
    CHECK_FALSE(sig.from_kernel);
    CHECK(sig.sender.key == model::ProcKey{812, 1812});
    CHECK(sig.sender.comm == "runc");

    rec.hdr.flags = IW_SIGNAL_FROM_KERNEL;
    rec.sender = {};
    rec.si_code = 0x80;
    ev = probe::decode_record(&rec, sizeof(rec));
    REQUIRE(ev);
    CHECK(std::get<model::SignalEvent>(*ev).from_kernel);
    CHECK(std::get<model::SignalEvent>(*ev).si_code == 0x80);
    CHECK_FALSE(probe::decode_record(&rec, sizeof(rec) - 1));
}

TEST_CASE("decode an OOM record: a pid only on older kernels") {
    iw_oom_event rec{};
    rec.hdr = {8, IW_EVENT_OOM, IW_EVENTS_VERSION, 0};
    rec.victim = {4242, 0, 5242};
    auto ev = probe::decode_record(&rec, sizeof(rec));
    REQUIRE(ev);
    CHECK(std::get<model::OomEvent>(*ev).task.key == model::ProcKey{4242, 5242});
    rec.hdr.flags = IW_OOM_PID_ONLY;
    ev = probe::decode_record(&rec, sizeof(rec));
    REQUIRE(ev);
    CHECK(std::get<model::OomEvent>(*ev).task.key == model::ProcKey{4242, 0});
}

TEST_CASE("a worker SIGKILLed by a process of the node: killed_by names it, on the node") {
    Container c;
    const model::ProcKey runc = c.sim.host(812, "runc");
    c.sim.signal(c.worker, SIGKILL, runc);
    const model::Finding f = c.worker_finding(SIGKILL);
    REQUIRE(f.killed_by);
    CHECK(f.killed_by->kind == model::KilledBy::Sender::process);
    REQUIRE(f.killed_by->sender);
    CHECK(f.killed_by->sender->pid == 812);
    CHECK(f.killed_by->sender->comm == "runc");
    CHECK_FALSE(f.killed_by->same_namespace);
    CHECK(model::describe(*f.killed_by) == "SIGKILL from runc (pid 812, on the node)");
    CHECK(f.severity == model::Severity::warning);
    CHECK(f.diagnosis.find("was killed by SIGKILL from runc (pid 812, on the node)") != std::string::npos);
    // The Event note and the termination message (the same note) say it in their head.
    CHECK(k8s::finding_note(f, 1024).find("ended (SIGKILL from runc (pid 812, on the node))") !=
          std::string::npos);
}

TEST_CASE("init stopped by `kill 1` inside the container: killed_by says so, with its argv") {
    Container c;
    const model::ProcKey killer = c.sim.fork(c.init, 102);
    c.sim.exec(killer, {"kill", "1"});
    c.sim.signal(c.init, SIGTERM, killer);
    c.sim.exit(killer);
    const auto f = c.sim.exit(c.init, SIGTERM);
    REQUIRE(f);
    REQUIRE(f->killed_by);
    CHECK(f->killed_by->same_namespace);
    CHECK(model::describe(*f->killed_by) == "SIGTERM from `kill 1` inside the container (pid 102)");
    CHECK(f->diagnosis.find("Init got SIGTERM from `kill 1` inside the container") != std::string::npos);
}

TEST_CASE("the OOM killer's SIGKILL: kind oom, an error, also when the kernel gave a pid only") {
    for (bool pid_only : {false, true}) {
        Container c;
        c.sim.signal(c.worker, SIGKILL, std::nullopt);
        c.sim.oom(c.worker, pid_only);
        model::Finding f = c.worker_finding(SIGKILL);
        REQUIRE(f.killed_by);
        CHECK(f.killed_by->kind == model::KilledBy::Sender::oom);
        CHECK_FALSE(f.killed_by->sender);
        CHECK(f.severity == model::Severity::error);
        f.killed_by->memory_max = uint64_t{128} << 20;
        const std::string diagnosis = model::diagnose(f);
        INFO(diagnosis);
        CHECK(diagnosis.find("`node server.js` (started by init in the background, ran ") == 0);
        CHECK(
            diagnosis.find(") was ended by the OOM killer (the container's memory.max is 128 MiB) while init "
                           "`sleep infinity` lives on") != std::string::npos);
    }
}

TEST_CASE("killed_by is never a guess: another signal, or none seen, leaves it unset") {
    SECTION("SIGTERM was sent, SIGKILL ended it") {
        Container c;
        c.sim.signal(c.worker, SIGTERM, c.sim.host(812, "runc"));
        CHECK_FALSE(c.worker_finding(SIGKILL).killed_by);
    }
    SECTION("no signal record") {
        Container c;
        CHECK_FALSE(c.worker_finding(SIGKILL).killed_by);
    }
    SECTION("a kernel SIGKILL without the OOM record stays the kernel's") {
        Container c;
        c.sim.signal(c.worker, SIGKILL, std::nullopt);
        const model::Finding f = c.worker_finding(SIGKILL);
        REQUIRE(f.killed_by);
        CHECK(f.killed_by->kind == model::KilledBy::Sender::kernel);
        CHECK(model::describe(*f.killed_by) == "SIGKILL from the kernel");
    }
}

TEST_CASE("decode an ignored signal record") {
    iw_signal_event rec{};
    rec.hdr = {7, IW_EVENT_SIGNAL, IW_EVENTS_VERSION, IW_SIGNAL_IGNORED};
    rec.target = task_of_pid(4242, 1, 1, 4026532200u, "sh");
    rec.sender = task_of_pid(812, 812, 0, 4026531836u, "runc");
    rec.sig = SIGTERM;
    const auto ev = probe::decode_record(&rec, sizeof(rec));
    REQUIRE(ev);
    CHECK(std::get<model::SignalEvent>(*ev).ignored);
    CHECK_FALSE(std::get<model::SignalEvent>(*ev).from_kernel);
}

namespace {
std::vector<model::Finding> due(Sim& sim) {
    std::vector<model::Finding> out;
    sim.tracker.take_due(UINT64_MAX, out);
    return out;
}
}  // namespace

TEST_CASE("stop_ignored: init ignored the runtime's SIGTERM and SIGKILL ended it after the grace period") {
    Container c;
    const model::ProcKey runc = c.sim.host(812, "runc");
    c.sim.signal(c.init, SIGTERM, runc, true);
    c.sim.now += 10'000'000'000;
    c.sim.signal(c.init, SIGKILL, runc);
    const auto init_finding = c.sim.exit(c.init, SIGKILL);  // the worker still ran: init's own finding
    REQUIRE(init_finding);
    CHECK(init_finding->kind == model::Kind::init_exit);
    const auto found = due(c.sim);
    REQUIRE(found.size() == 1);
    const model::Finding& f = found[0];
    CHECK(f.kind == model::Kind::stop_ignored);
    CHECK(f.severity == model::Severity::info);
    CHECK(f.live.empty());
    CHECK(f.init.pid == 100);
    CHECK(f.init.status.signal == SIGKILL);
    REQUIRE(f.stop);
    CHECK(f.stop->sender.signal == SIGTERM);
    REQUIRE(f.stop->sender.sender);
    CHECK(f.stop->sender.sender->comm == "runc");
    CHECK(f.stop->waited_ns >= 10'000'000'000);
    CHECK(f.stop->waited_ns < 10'100'000'000);
    REQUIRE(f.killed_by);
    CHECK(f.killed_by->signal == SIGKILL);
    INFO(f.diagnosis);
    CHECK(f.diagnosis.find("init `sleep infinity` ignored SIGTERM from runc (pid 812, on the node): a PID 1 "
                           "without a handler for SIGTERM does not get it, so the stop waited 10s until "
                           "SIGKILL from runc (pid 812, on the node) ended it.") == 0);
    CHECK(f.diagnosis.find("tini") != std::string::npos);
    CHECK(k8s::event_reason(f) == "InitIgnoredStopSignal");
    INFO(k8s::finding_note(f, 1024));
    CHECK(k8s::finding_note(f, 1024).find(
              "init `sleep infinity` ended (SIGKILL from runc (pid 812, on the node)) "
              "10s after it ignored SIGTERM. init `sleep infinity` ignored") == 0);
    CHECK(due(c.sim).empty());  // once
}

TEST_CASE("stop_ignored is only the stop of a container's own init, by SIGKILL, from outside it") {
    SECTION("init handled SIGTERM (no ignored record) and exited") {
        Container c;
        c.sim.signal(c.init, SIGTERM, c.sim.host(812, "runc"));
        c.sim.exit(c.init, SIGTERM);
        CHECK(due(c.sim).empty());
    }
    SECTION("init ignored SIGTERM, then ended on its own") {
        Container c;
        c.sim.signal(c.init, SIGTERM, c.sim.host(812, "runc"), true);
        c.sim.exit(c.init, 0);
        CHECK(due(c.sim).empty());
    }
    SECTION("`kill 1` inside the container is no stop") {
        Container c;
        const model::ProcKey killer = c.sim.fork(c.init, 102);
        c.sim.exec(killer, {"kill", "1"});
        c.sim.signal(c.init, SIGTERM, killer, true);
        c.sim.exit(killer);
        c.sim.exit(c.init, SIGKILL);
        CHECK(due(c.sim).empty());
    }
    SECTION("a nested namespace's init: the container's init is what a runtime stops") {
        Container c;
        const model::ProcKey nested = c.sim.spawn_init(c.init, 103, 4026532301);
        c.sim.exec(nested, {"sleep", "infinity"});
        c.sim.signal(nested, SIGTERM, c.sim.host(812, "runc"), true);
        c.sim.exit(nested, SIGKILL);
        CHECK(due(c.sim).empty());
    }
}

TEST_CASE("behind an init shim, killed_by is the child's: tini exits 137 after runc's SIGKILL to it") {
    Sim sim{young_workers()};
    const model::ProcKey shim = sim.host(90);
    const model::ProcKey init = sim.spawn_init(shim, 100, 4026532300);
    sim.exec(init, {"tini", "--", "sh", "/startup.sh"});
    const model::ProcKey child = sim.fork(init, 101);
    sim.exec(child, {"sh", "/startup.sh"});
    const model::ProcKey server = sim.fork(child, 102);
    sim.exec(server, {"sleep", "3600"});
    const model::ProcKey runc = sim.host(812, "runc");
    sim.signal(child, SIGKILL, runc);
    sim.exit(child, SIGKILL);
    const auto f = sim.exit(init, (128 + SIGKILL) << 8);
    REQUIRE(f);
    REQUIRE(f->entrypoint);
    REQUIRE(f->killed_by);
    CHECK(model::describe(*f->killed_by) == "SIGKILL from runc (pid 812, on the node)");
    INFO(f->diagnosis);
    CHECK(f->diagnosis.find(" Its child got SIGKILL from runc (pid 812, on the node).") != std::string::npos);
    const std::string note = k8s::finding_note(*f, 1024);
    INFO(note);
    CHECK(
        note.find("init `tini -- sh /startup.sh` ended (exit 137) after its child `sh /startup.sh` (SIGKILL "
                  "from runc (pid 812, on the node))") == 0);
}
