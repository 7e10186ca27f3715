#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>

#include "sim.h"

using namespace initwatch;
using model::How;
using model::Severity;
using test::Sim;

namespace {

constexpr uint32_t kNs = 4026532200;

struct Container {
    Sim sim;
    model::ProcKey shim, init;
    Container() {
        shim = sim.host(100);
        init = sim.spawn_init(shim, 200, kNs);
        sim.exec(init, {"sh", "/startup.sh"});
    }
};

}  // namespace

TEST_CASE("init exiting with its background child alive is a warning finding") {
    Container c;
    auto server = c.sim.fork(c.init, 201);
    c.sim.set_flags(server, true, false);
    c.sim.exec(server, {"node", "/my-app/server.js"});
    auto f = c.sim.exit(c.init, 0);

    REQUIRE(f);
    CHECK(f->severity == Severity::warning);
    CHECK(f->pidns_inum == kNs);
    CHECK(f->init.pid == 200);
    CHECK(f->init.ns_pid == 1);
    CHECK(f->init.argv == std::vector<std::string>{"sh", "/startup.sh"});
    REQUIRE(f->init.status.exit_code == 0);
    CHECK(f->init.ran_ns > 0);
    REQUIRE(f->live.size() == 1);
    const auto& p = f->live[0];
    CHECK(p.pid == 201);
    CHECK(p.ns_pid == 2);
    CHECK(p.ppid == 200);
    CHECK(p.how == How::background);
    CHECK(p.argv == std::vector<std::string>{"node", "/my-app/server.js"});
    CHECK(p.chain == std::vector<uint32_t>{200});
    CHECK(p.sighup_ignored);
    CHECK(p.age_ns > 0);
    CHECK(f->diagnosis.find("exec node /my-app/server.js") != std::string::npos);
}

TEST_CASE("an init that execs the server and is stopped alone makes no finding") {
    Container c;
    auto d1 = c.sim.fork(c.init, 201);
    c.sim.exec(d1, {"sleep", "0.3"});
    CHECK_FALSE(c.sim.exit(d1, 0));
    c.sim.exec(c.init, {"node", "/my-app/server.js"});
    CHECK_FALSE(c.sim.exit(c.init, SIGKILL));
    CHECK(c.sim.tracker.stats().processes == 1);  // the shim
    CHECK(c.sim.tracker.stats().namespaces == 0);
}

TEST_CASE("children of a helper that returned are reparented to init") {
    Container c;
    auto launcher = c.sim.fork(c.init, 201);
    c.sim.exec(launcher, {"sh", "-c", "sleep 3600 & sleep 3600 &"});
    auto d1 = c.sim.fork(launcher, 202);
    c.sim.exec(d1, {"sleep", "3600"});
    auto d2 = c.sim.fork(launcher, 203);
    c.sim.exec(d2, {"sleep", "3600"});
    c.sim.exit(launcher, 0);
    auto f = c.sim.exit(c.init, 0);

    REQUIRE(f);
    REQUIRE(f->live.size() == 2);
    for (const auto& p : f->live) {
        CHECK(p.how == How::reparented);
        CHECK(p.ppid == 200);
        CHECK(p.chain == std::vector<uint32_t>{200});
    }
}

TEST_CASE("a process under a background one is a descendant, with its parent chain") {
    Container c;
    auto a = c.sim.fork(c.init, 201);
    c.sim.exec(a, {"supervisor"});
    auto b = c.sim.fork(a, 202);
    c.sim.exec(b, {"worker", "--id=1"});
    auto f = c.sim.exit(c.init, 0);

    REQUIRE(f);
    REQUIRE(f->live.size() == 2);
    CHECK(f->live[0].how == How::background);
    CHECK(f->live[1].how == How::descendant);
    CHECK(f->live[1].ppid == 201);
    CHECK(f->live[1].chain == std::vector<uint32_t>{201, 200});
}

TEST_CASE("a process that joined the namespace from outside is 'entered'") {
    Container c;
    auto exec_shim = c.sim.host(300, "runc");
    auto shell = c.sim.fork_into(exec_shim, 301, kNs);
    c.sim.exec(shell, {"sh"});
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 1);
    CHECK(f->live[0].how == How::entered);
    CHECK(f->live[0].ppid == 300);
}

TEST_CASE("children that exited before init leave no finding") {
    Container c;
    auto d = c.sim.fork(c.init, 201);
    c.sim.exec(d, {"sleep", "0.3"});
    c.sim.exit(d, 0);
    CHECK_FALSE(c.sim.exit(c.init, 0));
    CHECK(c.sim.findings.empty());
}

TEST_CASE("a reused pid is a different process") {
    Container c;
    auto old = c.sim.fork(c.init, 201);
    c.sim.exec(old, {"old-job"});
    c.sim.exit(old, 0);
    auto reused = c.sim.fork(c.init, 201);  // same host pid, later start time
    REQUIRE(reused.tgid == old.tgid);
    REQUIRE(reused.start_ns != old.start_ns);
    c.sim.exec(reused, {"new-job"});

    // A late, duplicate exit of the old process must not remove the new one.
    model::ExitEvent stale;
    stale.ts_ns = c.sim.tick();
    stale.task.key = old;
    stale.task.ns_level = 1;
    stale.task.pidns_inum = kNs;
    CHECK_FALSE(c.sim.apply(stale));

    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 1);
    CHECK(f->live[0].argv == std::vector<std::string>{"new-job"});
}

TEST_CASE("a fork inherits its parent's command line until it execs") {
    Container c;
    auto sub = c.sim.fork(c.init, 201);  // a subshell: `( ... ) &`
    REQUIRE(c.sim.tracker.summary(sub));
    CHECK(c.sim.tracker.summary(sub)->argv == std::vector<std::string>{"sh", "/startup.sh"});
    c.sim.exec(sub, {"sleep", "3600"});
    CHECK(c.sim.tracker.summary(sub)->argv == std::vector<std::string>{"sleep", "3600"});
    CHECK(c.sim.tracker.summary(sub)->comm == "sleep");
}

TEST_CASE("an exec chain keeps the process: the last exec'd program is the init") {
    Container c;
    c.sim.exec(c.init, {"/bin/sh", "/entrypoint.sh"});
    c.sim.exec(c.init, {"node", "server.js"});
    auto f = c.sim.exit(c.init, SIGKILL);
    CHECK_FALSE(f);
}

TEST_CASE("severity follows how init ended") {
    SECTION("SIGTERM is a stop") {
        Container c;
        c.sim.fork(c.init, 201);
        auto f = c.sim.exit(c.init, SIGTERM);
        REQUIRE(f);
        CHECK(f->severity == Severity::info);
        CHECK(f->init.status.signal == SIGTERM);
        CHECK_FALSE(f->init.status.exit_code);
    }
    SECTION("SIGSEGV is a crash") {
        Container c;
        c.sim.fork(c.init, 201);
        auto f = c.sim.exit(c.init, SIGSEGV | 0x80);
        REQUIRE(f);
        CHECK(f->severity == Severity::error);
        CHECK(f->init.status.core_dumped);
    }
}

TEST_CASE("the init's exit is reported once even if seen twice") {
    Container c;
    c.sim.fork(c.init, 201);
    const model::ExitEvent ev = c.sim.init_exit_record(c.init, kNs);
    CHECK(c.sim.apply(ev));
    CHECK_FALSE(c.sim.apply(ev));
}

TEST_CASE("nested namespaces: each init is judged against its own namespace") {
    Container c;
    auto inner_runtime = c.sim.fork(c.init, 201);
    auto inner_init = c.sim.spawn_init(inner_runtime, 202, kNs + 1);
    c.sim.exec(inner_init, {"sh", "/inner.sh"});
    auto inner_child = c.sim.fork(inner_init, 203);
    c.sim.exec(inner_child, {"sleep", "3600"});

    auto inner = c.sim.exit(inner_init, 0);
    REQUIRE(inner);
    CHECK(inner->pidns_inum == kNs + 1);
    REQUIRE(inner->live.size() == 1);
    CHECK(inner->live[0].pid == 203);
    CHECK(inner->live[0].ns_pid == 2);
    c.sim.exit(inner_child, SIGKILL);  // the kernel's clean-up of the inner namespace

    auto outer = c.sim.exit(c.init, 0);
    REQUIRE(outer);
    REQUIRE(outer->live.size() == 1);
    CHECK(outer->live[0].pid == 201);
}

TEST_CASE("the outer init's finding includes processes of nested namespaces") {
    Container c;
    auto inner_init = c.sim.spawn_init(c.init, 202, kNs + 1);
    auto inner_child = c.sim.fork(inner_init, 203);
    (void)inner_child;
    auto outer = c.sim.exit(c.init, 0);
    REQUIRE(outer);
    CHECK(outer->live.size() == 2);
}

TEST_CASE("a reused namespace inode does not mix two containers") {
    Container c;
    auto straggler = c.sim.fork(c.init, 201);
    REQUIRE(c.sim.exit(c.init, 0));
    // Before the straggler's SIGKILL is seen, a new container gets the same inode.
    auto shim2 = c.sim.host(400);
    auto init2 = c.sim.spawn_init(shim2, 401, kNs);
    auto child2 = c.sim.fork(init2, 402);
    c.sim.exec(child2, {"sleep", "1"});
    CHECK_FALSE(c.sim.exit(straggler, SIGKILL));

    auto f = c.sim.exit(init2, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 1);
    CHECK(f->live[0].pid == 402);
}

TEST_CASE("a full process table drops new processes and marks the finding incomplete") {
    model::TrackerLimits limits;
    limits.max_processes = 3;  // shim, init, one child
    Sim sim(limits);
    auto shim = sim.host(100);
    auto init = sim.spawn_init(shim, 200, kNs);
    sim.fork(init, 201);
    sim.fork(init, 202);  // not tracked
    CHECK(sim.tracker.stats().processes == 3);
    CHECK(sim.tracker.stats().untracked == 1);
    auto f = sim.exit(init, 0);
    REQUIRE(f);
    CHECK(f->incomplete);
    CHECK(f->live.size() == 1);
}

TEST_CASE("lost events mark the next finding incomplete") {
    Container c;
    c.sim.fork(c.init, 201);
    c.sim.tracker.mark_incomplete();
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    CHECK(f->incomplete);
}

TEST_CASE("a dead namespace whose last exits were lost is forgotten after the grace period") {
    model::TrackerLimits limits;
    limits.dead_namespace_grace_ns = 5'000'000'000ULL;
    Sim sim(limits);
    auto shim = sim.host(100);
    auto init = sim.spawn_init(shim, 200, kNs);
    sim.fork(init, 201);
    REQUIRE(sim.exit(init, 0));
    CHECK(sim.tracker.stats().namespaces == 1);
    sim.tracker.expire(sim.now + 1'000'000'000ULL);
    CHECK(sim.tracker.stats().namespaces == 1);
    sim.tracker.expire(sim.now + 6'000'000'000ULL);
    CHECK(sim.tracker.stats().namespaces == 0);
    CHECK(sim.tracker.stats().processes == 1);  // the shim
}

TEST_CASE("a stream naming a process by the key of \"no process\" cannot corrupt the table") {
    // Found by fuzz_decode: a member keyed {0, 0} with children of its own, expired with a
    // dead namespace, was handed its own children while its list was being read.
    model::TrackerLimits limits;
    limits.dead_namespace_grace_ns = 5'000'000'000ULL;
    Sim sim(limits);
    auto shim = sim.host(100);
    auto init = sim.spawn_init(shim, 200, kNs);
    model::TaskInfo zero;
    zero.parent = init;
    zero.pidns_inum = kNs;
    zero.ns_level = 1;
    zero.ns_pid = 2;
    zero.comm = "sh";
    sim.apply(model::ForkEvent{sim.tick(), zero});
    for (uint32_t pid = 300; pid < 340; ++pid) {
        model::TaskInfo child = zero;
        child.key = {pid, sim.tick()};
        child.parent = model::ProcKey{};
        child.ns_pid = pid;
        sim.apply(model::ForkEvent{sim.now, child});
    }
    REQUIRE(sim.exit(init, 0));
    sim.tracker.expire(sim.now + 6'000'000'000ULL);
    CHECK(sim.tracker.stats().namespaces == 0);
    CHECK(sim.tracker.stats().processes == 1);  // the shim
}

TEST_CASE("processes known from the startup snapshot are reported as such") {
    Sim sim;
    auto shim = sim.host(100);
    model::TaskInfo init;
    init.key = {200, 5};
    init.parent = shim;
    init.ns_pid = 1;
    init.ns_level = 1;
    init.pidns_inum = kNs;
    init.comm = "sh";
    sim.apply(model::SnapshotEvent{sim.tick(), init, {"sh", "/startup.sh"}});
    model::TaskInfo child = init;
    child.key = {201, 6};
    child.parent = init.key;
    child.ns_pid = 7;
    child.comm = "sleep";
    sim.apply(model::SnapshotEvent{sim.tick(), child, {"sleep", "3600"}});

    model::ExitEvent ev;
    ev.ts_ns = sim.tick();
    ev.task = init;
    ev.ns_init = true;
    auto f = sim.apply(ev);
    REQUIRE(f);
    CHECK(f->init.from_snapshot);
    REQUIRE(f->live.size() == 1);
    CHECK(f->live[0].from_snapshot);
    CHECK(f->live[0].argv == std::vector<std::string>{"sleep", "3600"});
    CHECK(f->live[0].how == How::background);
}

TEST_CASE("a fork that had not exec'd when init exited is marked, and not suggested to exec") {
    Container c;
    c.sim.fork(c.init, 201);  // `nohup server &`, killed before its exec
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 1);
    CHECK_FALSE(f->live[0].execed);
    CHECK(f->live[0].argv == std::vector<std::string>{"sh", "/startup.sh"});
    CHECK(f->diagnosis.find("exec sh") == std::string::npos);
    CHECK(f->diagnosis.find("ideally with `exec`") != std::string::npos);
}

TEST_CASE("shared pid namespace: a container's main process exiting leaves its cgroup's processes") {
    Sim sim;
    auto shim = sim.host(100);
    auto pause = sim.spawn_init(shim, 200, kNs);  // the pod's pause is PID 1
    sim.exec(pause, {"/pause"});
    auto app_shim = sim.host(300);
    auto app = sim.fork_into(app_shim, 301, kNs, 600);  // joins the pod's namespace, own cgroup
    sim.exec(app, {"sh", "/app.sh"});
    auto server = sim.fork(app, 302);
    sim.exec(server, {"node", "server.js"});

    auto f = sim.exit(app, 0);
    REQUIRE(f);
    CHECK(f->scope == model::Scope::cgroup);
    CHECK(f->cgroup_id == 600);
    CHECK(f->severity == Severity::warning);
    CHECK(f->init.pid == 301);
    CHECK(f->init.ns_pid != 1);
    CHECK(f->init.argv == std::vector<std::string>{"sh", "/app.sh"});
    REQUIRE(f->live.size() == 1);
    CHECK(f->live[0].pid == 302);
    CHECK(f->live[0].how == How::background);
    CHECK(f->diagnosis.find("main process") != std::string::npos);
    CHECK(f->diagnosis.find("the runtime killed") != std::string::npos);
}

TEST_CASE("hostPID: a container main process without any pid namespace") {
    Sim sim;
    auto shim = sim.host(100);
    auto main = sim.fork(shim, 101, 700);
    sim.exec(main, {"sh", "/entrypoint.sh"});
    auto helper = sim.fork(main, 102);
    sim.exec(helper, {"sh", "-c", "daemon &"});
    auto daemon = sim.fork(helper, 103);
    sim.exec(daemon, {"daemon"});
    sim.exit(helper, 0);

    auto f = sim.exit(main, 0);
    REQUIRE(f);
    CHECK(f->scope == model::Scope::cgroup);
    REQUIRE(f->live.size() == 1);
    CHECK(f->live[0].pid == 103);
    CHECK(f->live[0].how == How::reparented);
}

TEST_CASE("a container that owns its pid namespace is reported once, as a namespace") {
    Sim sim;
    auto shim = sim.host(100);
    auto init = sim.spawn_init(shim, 200, kNs);
    sim.move_to_cgroup(init, 800);
    sim.exec(init, {"sh", "/startup.sh"});  // main process of cgroup 800 and namespace init
    sim.fork(init, 201);
    auto f = sim.exit(init, 0);
    REQUIRE(f);
    CHECK(f->scope == model::Scope::pidns);
    CHECK(sim.findings.size() == 1);
}

TEST_CASE("the cgroup scope stays quiet for non-main processes and the root cgroup") {
    Sim sim;
    auto shim = sim.host(100);
    auto main = sim.fork(shim, 101, 700);
    sim.exec(main, {"server"});
    auto worker = sim.fork(main, 102);
    sim.exec(worker, {"worker"});
    auto worker2 = sim.fork(main, 103);
    CHECK_FALSE(sim.exit(worker, 0));  // not the main process
    CHECK_FALSE(sim.exit(worker2, 0));
    CHECK_FALSE(sim.exit(main, 0));  // nothing left
    CHECK(sim.tracker.stats().cgroups == 0);

    auto host_main = sim.fork(shim, 110);  // the root cgroup (id 1): every host process
    sim.exec(host_main, {"bash"});
    sim.fork(host_main, 111);
    CHECK_FALSE(sim.exit(host_main, 0));
}

TEST_CASE("resync after lost events forgets processes that exited unseen and adds missed ones") {
    Container c;
    auto ghost = c.sim.fork(c.init, 201);  // its exit will be lost
    c.sim.exec(ghost, {"job"});
    auto kept = c.sim.fork(c.init, 202);
    c.sim.exec(kept, {"sleep", "3600"});
    const uint64_t taken = c.sim.tick();

    auto snapshot_of = [&](const model::ProcKey& key, uint32_t ns_pid, const model::ProcKey& parent,
                           std::vector<std::string> argv) {
        model::SnapshotEvent snap;
        snap.ts_ns = taken;
        snap.task.key = key;
        snap.task.parent = parent;
        snap.task.ns_pid = ns_pid;
        snap.task.ns_level = key == c.shim ? 0 : 1;
        snap.task.pidns_inum = key == c.shim ? Sim::kHostNs : kNs;
        snap.task.cgroup_id = 1;
        snap.argv = std::move(argv);
        return snap;
    };
    const model::ProcKey missed{203, taken - 500};  // forked while events were lost
    std::vector<model::SnapshotEvent> live{
        snapshot_of(c.shim, 100, {1, 1}, {"containerd-shim"}),
        snapshot_of(c.init, 1, c.shim, {"sh", "/startup.sh"}),
        snapshot_of(kept, 3, c.init, {"sleep", "3600"}),
        snapshot_of(missed, 4, c.init, {"worker"}),
    };
    CHECK(c.sim.tracker.resync(live, taken) == 1);
    CHECK_FALSE(c.sim.tracker.summary(ghost));
    REQUIRE(c.sim.tracker.summary(missed));

    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 2);
    CHECK(f->live[0].pid == 202);
    CHECK(f->live[1].pid == 203);
    CHECK(f->live[1].from_snapshot);
}

TEST_CASE("listing more processes than the kernel has pids in the namespace flags the finding") {
    Container c;
    c.sim.fork(c.init, 201);
    c.sim.fork(c.init, 202);  // its exit was lost: the kernel no longer has it
    const model::ExitEvent ev = c.sim.init_exit_record(c.init, kNs, 2);  // init and one child
    auto f = c.sim.apply(ev);
    REQUIRE(f);
    CHECK(f->kernel_disagrees);
    CHECK(f->incomplete);
}

TEST_CASE("threads and zombies make the kernel count higher, which is no disagreement") {
    Container c;
    c.sim.fork(c.init, 201);
    const model::ExitEvent ev = c.sim.init_exit_record(c.init, kNs, 5);
    auto f = c.sim.apply(ev);
    REQUIRE(f);
    CHECK_FALSE(f->kernel_disagrees);
    CHECK_FALSE(f->incomplete);
}

TEST_CASE("runc's own init stages in the container cgroup are no main process") {
    Sim sim;
    auto runc = sim.host(100, "runc");
    auto pause = sim.spawn_init(sim.host(90), 200, kNs);
    sim.exec(pause, {"/pause"});
    // `runc init` is exec'd in the app's cgroup, clones its stages and exits before the
    // last stage execs the entrypoint.
    auto runc_init = sim.fork(runc, 101, 600);
    sim.exec(runc_init, {"runc", "init"});
    auto stage1 = sim.fork_into(runc_init, 102, kNs, 600);
    CHECK_FALSE(sim.exit(runc_init, 0));  // its clones never exec'd: nothing to report
    auto stage2 = sim.fork(stage1, 103);
    CHECK_FALSE(sim.exit(stage1, 0));
    sim.exec(stage2, {"sh", "/app.sh"});  // the real main process
    auto child = sim.fork(stage2, 104);
    sim.exec(child, {"sleep", "3600"});

    auto f = sim.exit(stage2, 0);
    REQUIRE(f);
    CHECK(f->scope == model::Scope::cgroup);
    CHECK(f->init.argv == std::vector<std::string>{"sh", "/app.sh"});
    REQUIRE(f->live.size() == 1);
    CHECK(f->live[0].pid == 104);
    CHECK(sim.findings.size() == 1);
    CHECK_FALSE(sim.exit(child, SIGKILL));  // the runtime's clean-up: no second main, no second finding
}

TEST_CASE("a record of an init seen again after its exit cannot break the tracker") {
    Container c;
    auto member = c.sim.fork(c.init, 201);
    REQUIRE(c.sim.exit(c.init, 0));  // the namespace stays: its member is alive
    model::TaskInfo again;           // a bogus fork record of the same init key
    again.key = c.init;
    again.parent = c.shim;
    again.ns_pid = 1;
    again.ns_level = 1;
    again.pidns_inum = kNs;
    c.sim.apply(model::ForkEvent{c.sim.tick(), again});
    c.sim.apply(c.sim.init_exit_record(c.init, kNs));
    c.sim.fork(member, 202);  // must not throw
    c.sim.exit(member, SIGKILL);
}

TEST_CASE("a fork shares its parent's argv until it execs: no copy per fork") {
    Container c;
    auto child = c.sim.fork(c.init, 201);
    auto grandchild = c.sim.fork(child, 202);
    const auto* init = c.sim.tracker.summary(c.init);
    const auto* ch = c.sim.tracker.summary(child);
    const auto* gc = c.sim.tracker.summary(grandchild);
    REQUIRE(init);
    REQUIRE(ch);
    REQUIRE(gc);
    CHECK(ch->argv == std::vector<std::string>{"sh", "/startup.sh"});
    CHECK(ch->argv.shares_with(init->argv));
    CHECK(gc->argv.shares_with(init->argv));

    c.sim.exec(child, {"sleep", "3600"});
    CHECK(c.sim.tracker.summary(child)->argv == std::vector<std::string>{"sleep", "3600"});
    CHECK_FALSE(c.sim.tracker.summary(child)->argv.shares_with(init->argv));
    CHECK(c.sim.tracker.summary(grandchild)->argv == std::vector<std::string>{"sh", "/startup.sh"});
    CHECK(c.sim.tracker.summary(c.init)->argv == std::vector<std::string>{"sh", "/startup.sh"});
}

TEST_CASE("processes leave their lists in any order: the finding lists exactly the survivors") {
    Container c;
    std::vector<model::ProcKey> kids;
    for (uint32_t i = 0; i < 12; ++i) kids.push_back(c.sim.fork(c.init, 300 + i));
    // A middle process whose children are reparented to init, then partly exit.
    auto middle = c.sim.fork(c.init, 400);
    auto g1 = c.sim.fork(middle, 401);
    auto g2 = c.sim.fork(middle, 402);
    auto g3 = c.sim.fork(middle, 403);
    for (size_t i : {0u, 11u, 5u, 6u, 1u}) CHECK_FALSE(c.sim.exit(kids[i], 0));
    CHECK_FALSE(c.sim.exit(middle, 0));
    CHECK_FALSE(c.sim.exit(g2, 0));
    CHECK_FALSE(c.sim.exit(kids[7], 0));
    CHECK_FALSE(c.sim.exit(g1, 0));

    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    std::vector<uint32_t> pids;
    for (const auto& p : f->live) pids.push_back(p.pid);
    std::sort(pids.begin(), pids.end());
    CHECK(pids == std::vector<uint32_t>{302, 303, 304, 308, 309, 310, 403});
    for (const auto& p : f->live) CHECK(p.how == (p.pid == 403 ? How::reparented : How::background));
    (void)g3;

    // And the namespace is forgotten once its last members are gone.
    for (size_t i : {2u, 3u, 4u, 8u, 9u, 10u}) c.sim.exit(kids[i], 0);
    c.sim.exit(g3, 0);
    CHECK(c.sim.tracker.stats().namespaces == 0);
    // Every removal found its entry at the index it kept: none fell back to a search.
    CHECK(c.sim.tracker.stats().list_searches == 0);
}
