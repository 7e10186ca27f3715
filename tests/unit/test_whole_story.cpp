// The rules of issue 17 on synthetic streams: the entrypoint behind an init shim, who
// started each left-behind process, and the worker that ends while init lives on.
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "k8s/note.h"
#include "report/output.h"
#include "sim.h"

using namespace initwatch;
using model::How;
using model::Kind;
using model::Severity;
using test::Sim;

namespace {

constexpr uint32_t kNs = 4026532300;
constexpr uint64_t kSecond = 1'000'000'000ULL;

uint32_t killed_by(int sig) { return static_cast<uint32_t>(sig); }
uint32_t exited(int code) { return static_cast<uint32_t>(code) << 8; }

// A container whose init execs `init_argv`.
struct Container {
    Sim sim;
    model::ProcKey shim, init;
    explicit Container(std::vector<std::string> init_argv, model::TrackerLimits limits = {}) : sim(limits) {
        shim = sim.host(100);
        init = sim.spawn_init(shim, 200, kNs);
        sim.exec(init, std::move(init_argv));
    }
    model::ProcKey child(const model::ProcKey& parent, uint32_t pid, std::vector<std::string> argv) {
        auto k = sim.fork(parent, pid);
        sim.exec(k, std::move(argv));
        return k;
    }
    std::vector<model::Finding> due(uint64_t after_ns = 0) {
        std::vector<model::Finding> out;
        sim.tracker.take_due(sim.now + after_ns, out);
        return out;
    }
};

// tini -- sh /startup.sh, where the script backgrounds a helper that starts the server.
struct Shim : Container {
    model::ProcKey script, helper, server;
    Shim() : Container({"tini", "--", "sh", "/startup.sh"}) {
        script = child(init, 201, {"sh", "/startup.sh"});
        helper = child(script, 202, {"sh", "/my-tools/start"});
        server = child(helper, 203, {"sleep", "3600"});
        CHECK_FALSE(sim.exit(helper, 0));
    }
};

template <typename Make>
std::string print(Make make, const model::Finding& f) {
    char* buf = nullptr;
    size_t len = 0;
    std::FILE* file = open_memstream(&buf, &len);
    {
        auto out = make(file);
        meta::FindingContext context;
        context.container.cgroup_id = f.cgroup_id;
        context.container.cgroup_path = "/kubepods/pod-x/abc";
        out->finding(f, context);
        out->flush();
    }
    std::fclose(file);
    std::string s(buf, len);
    free(buf);
    return s;
}

std::unique_ptr<report::Output> text(std::FILE* f) { return report::make_text_output(f, false); }
std::unique_ptr<report::Output> json(std::FILE* f) { return report::make_json_output(f); }

model::Finding crashed_worker() {
    Container c({"sh", "/startup.sh"});
    auto server = c.child(c.init, 201, {"node", "server.js"});
    c.child(c.init, 202, {"sidecar"});
    c.sim.exec(c.init, {"sleep", "infinity"});
    c.sim.now += 125 * kSecond;
    c.sim.exit(server, killed_by(SIGSEGV));
    auto found = c.due(model::kRestartWindowNs);
    REQUIRE(found.size() == 1);
    return found[0];
}

}  // namespace

TEST_CASE("an init shim that follows its only child: the finding names that child") {
    Shim c;
    CHECK_FALSE(c.sim.exit(c.script, 0));
    auto f = c.sim.exit(c.init, 0);  // a millisecond later, as tini does
    REQUIRE(f);
    REQUIRE(f->entrypoint);
    CHECK(f->entrypoint->argv == std::vector<std::string>{"sh", "/startup.sh"});
    CHECK(f->entrypoint->status.exit_code == 0);
    CHECK(f->entrypoint->before_ns == 1'000'000);
    CHECK(f->severity == Severity::warning);
    CHECK(f->diagnosis.find("init tini exited because its child `sh /startup.sh` exited 0") == 0);
    CHECK(f->diagnosis.find("`exec sleep 3600`") != std::string::npos);

    SECTION("and who started what it left: the helper, exited") {
        REQUIRE(f->live.size() == 1);
        const auto& p = f->live[0];
        CHECK(p.how == How::reparented);
        REQUIRE(p.started_by);
        CHECK(p.started_by->argv == std::vector<std::string>{"sh", "/my-tools/start"});
        REQUIRE(p.started_by->status);
        CHECK(p.started_by->status->exit_code == 0);
        CHECK(p.started_by->before_ns == 2'000'000);  // helper exited; script, then init, followed
    }
}

TEST_CASE("a shim's child that crashes makes an error finding judged on the child") {
    Shim c;
    c.sim.exit(c.script, killed_by(SIGSEGV));
    auto f = c.sim.exit(c.init, exited(139));  // tini: 128 + the signal
    REQUIRE(f);
    REQUIRE(f->entrypoint);
    CHECK(f->severity == Severity::error);
    CHECK(f->diagnosis.find("crashed with SIGSEGV") != std::string::npos);
}

TEST_CASE("no entrypoint when init did not wait for one child, or did not follow it at once") {
    SECTION("a shell with a background server and a foreground helper") {
        Container c({"sh", "/startup.sh"});
        c.child(c.init, 201, {"node", "server.js"});
        auto helper = c.child(c.init, 202, {"sh", "/prepare.sh"});
        c.sim.exit(helper, 0);
        auto f = c.sim.exit(c.init, 0);
        REQUIRE(f);
        CHECK_FALSE(f->entrypoint);
        CHECK(f->diagnosis.find("init exited on its own") == 0);
    }
    SECTION("init exits seconds after its only child") {
        Shim c;
        c.sim.exit(c.script, 0);
        c.sim.now += 2 * model::FindingBuilder::kEntrypointWindowNs;
        auto f = c.sim.exit(c.init, 0);
        REQUIRE(f);
        CHECK_FALSE(f->entrypoint);
    }
    SECTION("init started another child after the first ended") {
        Shim c;
        c.sim.exit(c.script, 0);
        c.child(c.init, 204, {"sleep", "1"});
        auto f = c.sim.exit(c.init, 0);
        REQUIRE(f);
        CHECK_FALSE(f->entrypoint);
    }
}

TEST_CASE("a descendant's starter is its running parent") {
    Container c({"sh", "/startup.sh"});
    auto helper = c.child(c.init, 201, {"sh", "/run-all.sh"});
    c.child(helper, 202, {"sleep", "3600"});
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 2);
    CHECK(f->live[0].how == How::background);
    CHECK_FALSE(f->live[0].started_by);  // init itself: said by `background`
    CHECK(f->live[1].how == How::descendant);
    REQUIRE(f->live[1].started_by);
    CHECK(f->live[1].started_by->pid == 201);
    CHECK_FALSE(f->live[1].started_by->status);
}

TEST_CASE("exited starters stay inside the byte budget, and what fell out is said") {
    size_t budget = 0;
    {
        Shim probe;  // the same stream, to learn what the budget counts at the helper's exit
        budget = probe.sim.tracker.stats().memory_bytes;
    }
    // The helper's exit is the first to need a record: past the budget by one byte.
    model::TrackerLimits limits;
    limits.max_memory_bytes = budget + model::ProcessTable::bytes_per_exited() - 1;
    Sim sim(limits);
    auto shim = sim.host(100);
    auto init = sim.spawn_init(shim, 200, kNs);
    sim.exec(init, {"tini", "--", "sh", "/startup.sh"});
    auto script = sim.fork(init, 201);
    sim.exec(script, {"sh", "/startup.sh"});
    auto helper = sim.fork(script, 202);
    sim.exec(helper, {"sh", "/my-tools/start"});
    auto server = sim.fork(helper, 203);
    sim.exec(server, {"sleep", "3600"});
    sim.exit(helper, 0);
    CHECK(sim.tracker.stats().starters_dropped == 1);
    auto f = sim.exit(init, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 2);
    const auto& sleeper = f->live[1];
    CHECK(sleeper.how == How::reparented);
    CHECK_FALSE(sleeper.started_by);
    CHECK(sleeper.started_by_dropped);
}

TEST_CASE("a worker that crashes while init lives on is a worker_exit finding, after the restart window") {
    Container c({"sh", "/startup.sh"});
    auto server = c.child(c.init, 201, {"node", "server.js"});
    c.sim.exec(c.init, {"sleep", "infinity"});  // `exec sleep infinity`
    c.sim.now += 40 * kSecond;
    CHECK_FALSE(c.sim.exit(server, killed_by(SIGSEGV) | 0x80));
    CHECK(c.due().empty());  // a supervisor may start it again
    auto found = c.due(model::kRestartWindowNs);
    REQUIRE(found.size() == 1);
    const auto& f = found[0];
    CHECK(f.kind == Kind::worker_exit);
    CHECK(f.severity == Severity::error);
    CHECK(f.init.argv == std::vector<std::string>{"sleep", "infinity"});
    CHECK(f.init.ran_ns >= 40 * kSecond);
    REQUIRE(f.worker);
    CHECK(f.worker->argv == std::vector<std::string>{"node", "server.js"});
    CHECK(f.worker->how == How::background);
    CHECK(f.worker->status.signal == SIGSEGV);
    CHECK(f.worker->status.core_dumped);
    CHECK(f.worker->age_ns >= 40 * kSecond);
    CHECK(f.live_count == 0);
    CHECK_FALSE(f.restarted);
    CHECK(f.diagnosis.find(
              "`node server.js` (started by init in the background, ran 40s) crashed with SIGSEGV") == 0);
    CHECK(f.diagnosis.find("`exec node server.js`") != std::string::npos);
    CHECK(c.due(model::kRestartWindowNs).empty());  // once
}

TEST_CASE("which ends of init's children are worker_exit findings") {
    Container c({"sleep", "infinity"});
    auto young = c.child(c.init, 201, {"sh", "-c", "exit 1"});
    auto server = c.child(c.init, 202, {"server"});
    auto daemon_parent = c.child(c.init, 203, {"sh", "/start-daemon"});
    auto daemon = c.child(daemon_parent, 204, {"daemon"});
    c.sim.exit(daemon_parent, 0);  // daemon is reparented to init
    c.sim.now += 40 * kSecond;
    const uint64_t later = model::kRestartWindowNs;

    SECTION("younger than --worker-min-age: nothing") {
        c.sim.now -= 39 * kSecond;
        auto fresh = c.child(c.init, 205, {"sh", "-c", "exit 1"});
        c.sim.exit(fresh, exited(1));
        CHECK(c.due(later).empty());
    }
    SECTION("exit 0 while others run: nothing; exit 0 leaving init alone: a warning") {
        c.sim.exit(young, exited(1));  // aged as well: an error
        auto first = c.due(later);
        REQUIRE(first.size() == 1);
        CHECK(first[0].severity == Severity::error);
        CHECK(first[0].worker->status.exit_code == 1);
        c.sim.exit(server, 0);
        CHECK(c.due(later).empty());
        c.sim.exit(daemon, 0);
        auto alone = c.due(later);
        REQUIRE(alone.size() == 1);
        CHECK(alone[0].severity == Severity::warning);
        CHECK(alone[0].worker->how == How::reparented);
        REQUIRE(alone[0].worker->started_by);
        CHECK(alone[0].worker->started_by->argv == std::vector<std::string>{"sh", "/start-daemon"});
        CHECK(alone[0].diagnosis.find("exited 0 and left init alone") != std::string::npos);
    }
    SECTION("SIGKILL (the OOM killer) is a warning, SIGTERM info; what still runs is listed") {
        c.sim.exit(server, killed_by(SIGKILL));
        auto killed = c.due(later);
        REQUIRE(killed.size() == 1);
        CHECK(killed[0].severity == Severity::warning);
        CHECK(killed[0].live_count == 2);  // young and daemon
        CHECK(killed[0].diagnosis.find("SIGKILL (the OOM killer") != std::string::npos);
        c.sim.exit(daemon, killed_by(SIGTERM));
        auto stopped = c.due(later);
        REQUIRE(stopped.size() == 1);
        CHECK(stopped[0].severity == Severity::info);
    }
}

TEST_CASE("a daemon stopped on request by the script's own step, the script going on: nothing") {
    // The postgres entrypoint: `pg_ctl start` leaves the temporary server (reparented to init),
    // `pg_ctl -w stop` asks it to stop and returns as soon as its pid file is gone, which can be
    // a moment before the server's exit: the server then ends with 0 leaving init alone. Then
    // the script goes on (`exec postgres`): no finding. A script that goes on with nothing
    // (sleeping) keeps it.
    Container c({"sh", "/docker-entrypoint.sh"});
    auto pg_ctl = c.child(c.init, 201, {"pg_ctl", "start"});
    auto server = c.child(pg_ctl, 202, {"postgres", "-D", "/data"});
    c.sim.exit(pg_ctl, 0);  // the server is reparented to init
    c.sim.now += 40 * kSecond;
    auto stop = c.child(c.init, 203, {"pg_ctl", "stop"});
    c.sim.exit(stop, 0);
    c.sim.exit(server, 0);  // init and the server only: "left init alone"
    SECTION("the script goes on within the window: a step of its flow") {
        c.sim.now += 200'000'000;
        c.sim.exec(c.init, {"postgres", "-D", "/data"});
        CHECK(c.due(model::kRestartWindowNs).empty());
    }
    SECTION("init does nothing more: the container runs on without its server") {
        auto found = c.due(model::kRestartWindowNs);
        REQUIRE(found.size() == 1);
        CHECK(found[0].severity == Severity::warning);
        CHECK(found[0].diagnosis.find("exited 0 and left init alone") != std::string::npos);
    }
}

TEST_CASE("processes that entered from outside never count as workers") {
    Container c({"sleep", "infinity"});
    auto runc_init = c.sim.host(300, "runc:[2:INIT]");
    auto entered = c.sim.fork_into(runc_init, 301, kNs);
    c.sim.exec(entered, {"sh", "-c", "sleep 60; exit 1"});
    auto its_child = c.sim.fork(entered, 302);
    c.sim.exec(its_child, {"sleep", "3600"});
    c.sim.exit(entered, 0);  // its child is reparented to init, but came from outside
    c.sim.now += 40 * kSecond;
    c.sim.exit(its_child, exited(1));
    CHECK(c.due(model::kRestartWindowNs).empty());
}

TEST_CASE("a supervisor that starts its worker again: info, restarted") {
    Container c({"/usr/bin/python3", "/usr/bin/supervisord", "-n"});
    auto worker = c.child(c.init, 201, {"/app/worker", "--port", "80"});
    c.sim.now += 40 * kSecond;
    c.sim.exit(worker, exited(1));
    c.sim.now += 500'000'000;  // supervisord's next tick
    c.child(c.init, 202, {"/app/worker", "--port", "80"});
    auto found = c.due();  // due at once: the restart decided it
    REQUIRE(found.size() == 1);
    CHECK(found[0].restarted);
    CHECK(found[0].severity == Severity::info);
    CHECK(found[0].diagnosis.find("a supervisor restarting its worker") != std::string::npos);
}

TEST_CASE("init's own exit settles its workers' pending findings") {
    SECTION("a stop that killed the worker a moment before init: nothing") {
        Container c({"sleep", "infinity"});
        auto server = c.child(c.init, 201, {"server"});
        c.sim.now += 40 * kSecond;
        c.sim.exit(server, killed_by(SIGKILL));
        c.sim.exit(c.init, killed_by(SIGKILL));
        CHECK(c.due(model::kRestartWindowNs).empty());
    }
    SECTION("a shim's child that fails: the init_exit finding tells it, once") {
        Shim c;
        c.sim.now += 40 * kSecond;
        c.sim.exit(c.script, exited(1));
        auto f = c.sim.exit(c.init, exited(1));
        REQUIRE(f);
        CHECK(f->entrypoint);
        CHECK(c.due(model::kRestartWindowNs).empty());
    }
    SECTION("a worker that crashed seconds before init exited: reported at once") {
        Container c({"sleep", "infinity"});
        auto server = c.child(c.init, 201, {"server"});
        c.child(c.init, 202, {"sidecar"});
        c.sim.now += 40 * kSecond;
        c.sim.exit(server, killed_by(SIGSEGV));
        c.sim.now += 2 * kSecond;
        c.sim.exit(c.init, 0);
        auto found = c.due();
        REQUIRE(found.size() == 1);
        CHECK(found[0].kind == Kind::worker_exit);
    }
}

TEST_CASE("the entrypoint and each left-behind process starter in JSON and text") {
    Shim c;
    c.sim.exit(c.script, 0);
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    const auto j = nlohmann::json::parse(print(json, *f));
    CHECK(j["type"] == "init_exit");
    CHECK(j["entrypoint"]["argv"] == nlohmann::json::array({"sh", "/startup.sh"}));
    CHECK(j["entrypoint"]["exit_code"] == 0);
    CHECK(j["entrypoint"]["before_init_ms"] == 1);
    const auto& sleeper = j["live"][0];
    CHECK(sleeper["how"] == "reparented");
    CHECK(sleeper["started_by"]["argv"] == nlohmann::json::array({"sh", "/my-tools/start"}));
    CHECK(sleeper["started_by"]["running"] == false);
    CHECK(sleeper["started_by"]["exit_code"] == 0);
    CHECK(sleeper["started_by"]["exited_before_init_ms"] == 2);

    const std::string t = print(text, *f);
    CHECK(t.find("its child ") != std::string::npos);
    CHECK(t.find("sh /startup.sh") != std::string::npos);
    CHECK(t.find("started by sh /my-tools/start (pid 202, exit 0 2ms before init)") != std::string::npos);
    CHECK(k8s::finding_note(*f).find("after its child `sh /startup.sh` (exit 0)") != std::string::npos);
    CHECK(k8s::finding_note(*f).find("started by `sh /my-tools/start` (exit 0)") != std::string::npos);
}

TEST_CASE("a worker_exit finding in JSON and text and as an Event") {
    const model::Finding f = crashed_worker();
    const auto j = nlohmann::json::parse(print(json, f));
    CHECK(j["type"] == "worker_exit");
    CHECK(j["severity"] == "error");
    CHECK(j["init"]["argv"] == nlohmann::json::array({"sleep", "infinity"}));
    CHECK(j["init"]["running"] == true);
    CHECK(j["worker"]["argv"] == nlohmann::json::array({"node", "server.js"}));
    CHECK(j["worker"]["signal"] == SIGSEGV);
    CHECK(j["worker"]["exit_code"].is_null());
    CHECK(j["worker"]["how"] == "background");
    CHECK(j["worker"]["age_ms"] >= 125000);
    CHECK(j["restarted"] == false);
    CHECK(j["live_count"] == 1);
    CHECK(j["live"][0]["argv"] == nlohmann::json::array({"sidecar"}));
    CHECK_FALSE(j.contains("entrypoint"));

    const std::string t = print(text, f);
    INFO(t);
    CHECK(t.find("ERROR  worker node ended (SIGSEGV) after 2m05s while init runs on with 1 process") !=
          std::string::npos);
    CHECK(t.find("201 [ns 2]     node server.js  ran 2m05s, SIGSEGV, background") != std::string::npos);
    CHECK(t.find("still running:") != std::string::npos);

    CHECK(k8s::event_reason(f) == "WorkerFailedWhileInitRuns");
    CHECK(k8s::event_action(f) == "WorkerExited");
    const std::string note = k8s::finding_note(f);
    CHECK(note.find(
              "worker `node server.js` (background) ended (SIGSEGV) while init `sleep infinity` runs") == 0);
    CHECK(note.size() <= 1024);
}

TEST_CASE("ten thousand workers ending together make one finding per window that counts the others") {
    Container c({"sleep", "infinity"});
    std::vector<model::ProcKey> workers;
    for (uint32_t i = 0; i < 10'000; ++i) workers.push_back(c.child(c.init, 1000 + i, {"worker"}));
    c.sim.now += 40 * kSecond;
    for (const auto& w : workers) c.sim.exit(w, killed_by(SIGKILL));  // 1 ms apart: 10 s
    auto found = c.due(model::kRestartWindowNs);
    REQUIRE(found.size() == 4);  // one per 3 s window
    uint64_t ended = 0;
    for (const auto& f : found) {
        ended += 1 + f.other_workers_ended;
        CHECK(f.live.size() <= model::FindingBuilder::kMaxListedBesideWorker);
    }
    CHECK(ended == 10'000);
    CHECK(found[0].other_workers_ended == 2'999);
    CHECK(found[0].live_count == 9'999);  // what ran beside the first at its end
}

TEST_CASE("worker_exit findings held at once are bounded; the rest are counted") {
    Sim sim;
    auto shim = sim.host(100);
    std::vector<std::pair<model::ProcKey, model::ProcKey>> containers;  // init, worker
    for (uint32_t i = 0; i < model::WorkerWatch::kMaxPending + 4; ++i) {
        auto init = sim.spawn_init(shim, 200 + 10 * i, kNs + i);
        sim.exec(init, {"sleep", "infinity"});
        auto worker = sim.fork(init, 201 + 10 * i);
        sim.exec(worker, {"server"});
        containers.emplace_back(init, worker);
    }
    sim.now += 40 * kSecond;
    for (const auto& [init, worker] : containers) sim.exit(worker, killed_by(SIGSEGV));
    CHECK(sim.tracker.pending_workers() == model::WorkerWatch::kMaxPending);
    CHECK(sim.tracker.stats().workers_dropped == 4);
    std::vector<model::Finding> out;
    sim.tracker.take_due(UINT64_MAX, out);
    CHECK(out.size() == model::WorkerWatch::kMaxPending);
}

TEST_CASE("held worker findings are fair: a container whose workers die in a loop cannot blind the node") {
    // An attacker container nests a pid namespace per worker (unshare), each worker dying at
    // once: one finding each, all its own container's. Then a victim container's server crashes.
    Sim sim;
    auto shim = sim.host(100);
    auto attacker = sim.spawn_init(shim, 200, kNs);
    sim.exec(attacker, {"sh", "/loop.sh"});
    std::vector<model::ProcKey> attacker_workers;
    for (uint32_t i = 0; i < 2 * model::WorkerWatch::kMaxPending; ++i) {
        auto nested = sim.spawn_init(attacker, 1000 + 10 * i, kNs + 100 + i);
        sim.exec(nested, {"sleep", "infinity"});
        auto w = sim.fork(nested, 1001 + 10 * i);
        sim.exec(w, {"worker"});
        attacker_workers.push_back(w);
    }
    auto victim = sim.spawn_init(shim, 300, kNs + 1);
    sim.exec(victim, {"sleep", "infinity"});
    auto server = sim.fork(victim, 301);
    sim.exec(server, {"node", "server.js"});
    sim.now += 40 * kSecond;
    for (const auto& w : attacker_workers) sim.exit(w, killed_by(SIGSEGV));
    CHECK(sim.tracker.pending_workers() == model::WorkerWatch::kMaxPendingPerContainer);
    CHECK(sim.tracker.stats().workers_dropped ==
          attacker_workers.size() - model::WorkerWatch::kMaxPendingPerContainer);
    sim.exit(server, killed_by(SIGSEGV));
    std::vector<model::Finding> out;
    sim.tracker.take_due(UINT64_MAX, out);
    size_t victims = 0;
    for (const auto& f : out) victims += f.init.pid == 300;
    CHECK(victims == 1);
}

TEST_CASE("with every slot held, a container over its share gives way to one under it") {
    Sim sim;
    auto shim = sim.host(100);
    const uint32_t containers = model::WorkerWatch::kMaxPending / model::WorkerWatch::kMaxPendingPerContainer;
    std::vector<model::ProcKey> workers;
    for (uint32_t c = 0; c < containers; ++c) {
        auto init = sim.spawn_init(shim, 10000 + 1000 * c, kNs + 1000 * c);
        sim.exec(init, {"sh", "/run.sh"});
        for (uint32_t i = 0; i < model::WorkerWatch::kMaxPendingPerContainer; ++i) {
            auto nested = sim.spawn_init(init, 10000 + 1000 * c + 10 * (i + 1), kNs + 1000 * c + i + 1);
            sim.exec(nested, {"sleep", "infinity"});
            auto w = sim.fork(nested, 10000 + 1000 * c + 10 * (i + 1) + 1);
            sim.exec(w, {"worker"});
            workers.push_back(w);
        }
    }
    auto late = sim.spawn_init(shim, 500, kNs + 999);
    sim.exec(late, {"sleep", "infinity"});
    auto server = sim.fork(late, 501);
    sim.exec(server, {"server"});
    sim.now += 40 * kSecond;
    for (const auto& w : workers) sim.exit(w, killed_by(SIGSEGV));
    CHECK(sim.tracker.pending_workers() == model::WorkerWatch::kMaxPending);
    sim.exit(server, killed_by(SIGSEGV));
    CHECK(sim.tracker.pending_workers() == model::WorkerWatch::kMaxPending);
    CHECK(sim.tracker.stats().workers_dropped == 1);  // one of a full container's, not the newcomer
    std::vector<model::Finding> out;
    sim.tracker.take_due(UINT64_MAX, out);
    size_t late_found = 0;
    for (const auto& f : out) late_found += f.init.pid == 500;
    CHECK(late_found == 1);
}

TEST_CASE("a script's foreground steps are no workers: init went on after them") {
    Container c({"bash", "/docker-entrypoint.sh", "postgres"});
    const uint64_t later = model::kRestartWindowNs;
    SECTION("a slow initdb that exits 0, then the next step") {
        auto initdb = c.child(c.init, 201, {"initdb", "-D", "/data"});
        c.sim.now += 40 * kSecond;
        c.sim.exit(initdb, 0);  // init is alone: it was waiting
        c.child(c.init, 202, {"pg_ctl", "-D", "/data", "-w", "start"});
        CHECK(c.due(later).empty());
    }
    SECTION("a step that fails, and the script goes on") {
        auto migrate = c.child(c.init, 201, {"migrate"});
        c.sim.now += 40 * kSecond;
        c.sim.exit(migrate, exited(1));
        c.child(c.init, 202, {"echo", "migration failed, going on"});
        CHECK(c.due(later).empty());
    }
    SECTION("`$(id -u)`, then init re-execs itself and runs it again") {
        auto id = c.child(c.init, 201, {"id", "-u"});
        c.sim.now += 40 * kSecond;  // aged only to make it a candidate
        c.sim.exit(id, 0);
        c.sim.exec(c.init, {"bash", "/docker-entrypoint.sh", "postgres"});  // as user postgres
        auto again = c.child(c.init, 202, {"id", "-u"});
        CHECK(c.due().empty());  // not taken for a restart
        c.sim.exit(again, 0);
        c.sim.exec(c.init, {"postgres"});
        CHECK(c.due(later).empty());
    }
    SECTION("a step whose end init follows with nothing: reported") {
        auto server = c.child(c.init, 201, {"server"});
        c.sim.now += 40 * kSecond;
        c.sim.exit(server, killed_by(SIGSEGV));  // init is blocked elsewhere (a builtin wait)
        auto found = c.due(later);
        REQUIRE(found.size() == 1);
        CHECK(found[0].severity == Severity::error);
    }
}
