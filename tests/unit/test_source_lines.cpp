// The line of the entrypoint script behind each process a finding lists: the lineage the
// tracker keeps (what the script's own process started), matched against the script's text.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "model/script.h"
#include "sim.h"

using namespace initwatch;
using model::Argv;
using test::Sim;

namespace {

constexpr uint32_t kNs = 4026532300;

std::string story(const std::string& name) {
    std::ifstream in(std::string(TOP_DIR) + "/examples/story/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Container {
    Sim sim;
    model::ProcKey shim, init;
    explicit Container(std::vector<std::string> argv = {"/bin/sh", "/my-app/startup.sh"}) {
        shim = sim.host(100);
        init = sim.spawn_init(shim, 200, kNs);
        sim.exec(init, std::move(argv));
    }
};

}  // namespace

TEST_CASE("3: the server's fork never exec'd, and still its line and its exec are named") {
    Container c;
    c.sim.fork(c.init, 201);  // `nohup ... &`: init exits before it execs nohup
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 1);
    REQUIRE(f->live[0].launch);
    CHECK_FALSE(f->live[0].launch->execed);
    CHECK(f->live[0].launch->background_index == 1);
    CHECK(f->script_process == c.init);

    model::attach_sources(*f, model::parse_script(story("3-dev-early-exit.sh")), "/my-app/startup.sh");
    REQUIRE(f->live[0].source);
    CHECK(f->live[0].source->line == 3);
    CHECK(f->live[0].source->text == "nohup sleep 3600 >/dev/null 2>&1 &");
    CHECK(f->live[0].source->suggestion == "exec sleep 3600");
    CHECK(f->diagnosis.find(
              "Line 3 of /my-app/startup.sh (`nohup sleep 3600 >/dev/null 2>&1 &`) started it in the "
              "background, then the script ended") != std::string::npos);
    CHECK(f->diagnosis.find("`exec sleep 3600`") != std::string::npos);
}

TEST_CASE("2: the exec'd server is matched by its argv; the foreground steps are not numbered") {
    Container c;
    auto server = c.sim.fork(c.init, 201);
    auto step1 = c.sim.fork(c.init, 202);  // the server's fork is now known not waited for
    c.sim.exec(server, {"nohup", "sleep", "3600"});
    c.sim.exec(server, {"sleep", "3600"});
    c.sim.exec(step1, {"sleep", "0.3"});
    c.sim.exit(step1, 0);
    auto step2 = c.sim.fork(c.init, 203);
    c.sim.exec(step2, {"sleep", "0.3"});
    c.sim.exit(step2, 0);
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    REQUIRE(f->live.size() == 1);
    CHECK(f->live[0].launch->background_index == 1);
    model::attach_sources(*f, model::parse_script(story("2-server-backgrounded.sh")), "/my-app/startup.sh");
    REQUIRE(f->live[0].source);
    CHECK(f->live[0].source->line == 3);
}

TEST_CASE("behind a shim, lines are those of the entrypoint's script, through an exited launcher") {
    Container c({"/sbin/tini", "--", "/my-app/startup.sh"});
    auto script = c.sim.fork(c.init, 201);
    c.sim.exec(script, {"/bin/sh", "/my-app/startup.sh"});
    auto launcher = c.sim.fork(script, 202);
    c.sim.exec(launcher, {"sh", "-c", "sleep 3600 & sleep 3600 &"});
    auto d1 = c.sim.fork(launcher, 203);
    c.sim.exec(d1, {"sleep", "3600"});
    c.sim.exit(launcher, 0);
    c.sim.exit(script, 0);
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    REQUIRE(f->entrypoint);
    CHECK(f->script_process == script);
    REQUIRE(f->live.size() == 1);
    REQUIRE(f->live[0].launch);
    CHECK(f->live[0].launch->argv == Argv{"sh", "-c", "sleep 3600 & sleep 3600 &"});
    model::attach_sources(
        *f, model::parse_script("#!/bin/sh\nnohup sh -c 'sleep 3600 & sleep 3600 &' &\nexit 0\n"),
        "/my-app/startup.sh");
    REQUIRE(f->live[0].source);
    CHECK(f->live[0].source->line == 2);
    CHECK(f->diagnosis.find("Line 2 of /my-app/startup.sh") != std::string::npos);
}

TEST_CASE("ambiguity and strangers: no line is named") {
    Container c;
    auto a = c.sim.fork(c.init, 201);
    c.sim.exec(a, {"sleep", "3600"});
    auto f = c.sim.exit(c.init, 0);
    REQUIRE(f);
    SECTION("two identical background lines") {
        model::attach_sources(*f, model::parse_script("sleep 3600 &\nsleep 3600 &\n"), "/s.sh");
        CHECK_FALSE(f->live[0].source);
        CHECK(f->diagnosis.find("line ") == std::string::npos);
    }
    SECTION("a program the script does not start") {
        model::attach_sources(*f, model::parse_script("node server.js &\n"), "/s.sh");
        CHECK_FALSE(f->live[0].source);
    }
    SECTION("sh -c: the script has no file") {
        model::attach_sources(*f, model::parse_script("sleep 3600 &"), std::nullopt);
        REQUIRE(f->live[0].source);
        CHECK_FALSE(f->live[0].source->file);
        CHECK(f->diagnosis.find("Line 1 of the `sh -c` script") != std::string::npos);
    }
}

TEST_CASE("a worker's line: the worker_exit diagnosis names it") {
    Container c;
    auto w = c.sim.fork(c.init, 201);
    c.sim.exec(w, {"node", "/my-app/worker.js"});
    auto other = c.sim.fork(c.init, 202);  // init goes on: the worker was not waited for
    c.sim.exec(other, {"sleep", "3600"});
    c.sim.now += 120'000'000'000ULL;  // past the age of a worker
    c.sim.exit(w, 1 << 8);            // exit 1
    std::vector<model::Finding> out;
    c.sim.tracker.take_due(UINT64_MAX, out);
    REQUIRE(out.size() == 1);
    model::Finding& f = out[0];
    REQUIRE(f.worker);
    REQUIRE(f.worker->launch);
    model::attach_sources(f, model::parse_script("#!/bin/sh\nnode /my-app/worker.js &\nexec sleep 3600\n"),
                          "/my-app/startup.sh");
    REQUIRE(f.worker->source);
    CHECK(f.worker->source->line == 2);
    CHECK(f.diagnosis.find("Line 2 of /my-app/startup.sh (`node /my-app/worker.js &`) started it") !=
          std::string::npos);
}
