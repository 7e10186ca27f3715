// `initwatch watch` on the whole host, and initwatch's own errors.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "../common/prometheus_text.h"
#include "../common/raw_http.h"
#include "harness.h"

using namespace initwatch::ktest;
using nlohmann::json;

TEST_CASE("watch: a namespace made with unshare leaving a child behind is reported") {
    require_root();
    const std::string output = temp_path("watch.json");
    Background watch({"watch", "--json", "--output", output, "--duration", "60", "--log-level", "info"},
                     output);
    REQUIRE(watch.wait_for_output("watching", 30));

    const auto start = std::chrono::steady_clock::now();
    REQUIRE(shell("unshare --pid --fork --mount-proc sh -c 'sleep 30 & exit 0' iw-watch-marker", 30) == 0);
    REQUIRE(watch.wait_for_finding("iw-watch-marker", 30));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    WARN("watch: finding reported " << seconds << " s after the trigger started");
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(30);

    CHECK(r.status == 0);
    const auto findings = r.findings_with("iw-watch-marker");
    REQUIRE(findings.size() == 1);
    const json& f = findings[0];
    CHECK(f.at("severity") == "warning");
    CHECK(f.at("init").at("argv") == json::array({"sh", "-c", "sleep 30 & exit 0", "iw-watch-marker"}));
    CHECK(f.at("init").at("exit_code") == 0);
    REQUIRE(f.at("live").size() == 1);
    CHECK(f.at("live")[0].at("how") == "background");
}

TEST_CASE("errors of initwatch itself: one line on stderr, exit status 2 (125 in run)") {
    auto one_line = [](const Result& r) {
        INFO(r.err);
        CHECK(r.err.rfind("initwatch: ", 0) == 0);
        CHECK(r.err.find('\n') == r.err.size() - 1);
    };
    SECTION("unknown flag") {
        auto r = run_raw({"--no-such-flag"});
        CHECK(r.status == 2);
        one_line(r);
    }
    SECTION("run without a command") {
        auto r = run_raw({"run"});
        CHECK(r.status == 125);
        one_line(r);
    }
    SECTION("kernel BTF missing") {
        require_root();
        auto r = run_raw({"run", "--btf", "/nonexistent/vmlinux", "--", "true"});
        CHECK(r.status == 125);
        one_line(r);
        CHECK(r.err.find("BTF") != std::string::npos);
    }
    SECTION("unwritable output") {
        require_root();
        auto r = run_raw({"run", "--output", "/proc/initwatch-cannot-write", "--", "true"});
        CHECK(r.status == 125);
        one_line(r);
    }
    SECTION("not root") {
        require_root();
        auto r = run_raw({"--reuid", "65534", "--regid", "65534", "--clear-groups", "--", INITWATCH_BIN,
                          "watch", "--duration", "1"},
                         60, {}, "/usr/bin/setpriv");
        CHECK(r.status == 2);
        one_line(r);
        CHECK(r.err.find("cannot load BPF programs") != std::string::npos);
    }
    SECTION("root without CAP_BPF (and CAP_SYS_ADMIN, which would stand in for it)") {
        require_root();
        auto r =
            run_raw({"--bounding-set", "-bpf,-sys_admin", "--", INITWATCH_BIN, "watch", "--duration", "1"},
                    60, {}, "/usr/bin/setpriv");
        CHECK(r.status == 2);
        one_line(r);
        CHECK(r.err.find("CAP_BPF") != std::string::npos);
    }
    SECTION("bad ring buffer size") {
        auto r = run_raw({"--ring-buffer-size", "5000"});
        CHECK(r.status == 2);
        one_line(r);
    }
}

TEST_CASE("run: a command that does not exist exits 127, as a shell would") {
    require_root();
    auto r = run_raw({"run", "--", "/nonexistent/entrypoint"});
    CHECK(r.status == 127);
    CHECK(r.err.find("No such file") != std::string::npos);
}

TEST_CASE("check: loads everything and says which exit probe this kernel gets") {
    require_root();
    auto r = run_raw({"check"});
    CHECK(r.status == 0);
    CHECK(r.out.find("exit probe") != std::string::npos);
    CHECK(r.out.find("handle_fork") != std::string::npos);
    CHECK(r.out.find("ok: initwatch can trace this host") != std::string::npos);
    auto fallback = run_raw({"check", "--exit-probe", "live-count"});
    CHECK(fallback.status == 0);
    CHECK(fallback.out.find("handle_exit_legacy") != std::string::npos);
}

TEST_CASE("metrics and health over HTTP during a real finding, scraped with curl") {
    require_root();
    const std::string output = temp_path("metrics.json");
    Background watch({"watch", "--json", "--output", output, "--metrics-address", "127.0.0.1:0",
                      "--node-name", "node-under-test", "--log-level", "info"},
                     output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    const uint16_t port = watch.metrics_port();
    REQUIRE(port != 0);
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    auto curl = [&](const std::string& path) {
        return shell_output("curl -sf --max-time 10 " + base + path, 20);
    };
    CHECK(curl("/healthz") == "ok\n");
    CHECK(curl("/readyz") == "ready\n");

    // Other namespaces on the machine may add findings too: ours makes the count at least 1.
    REQUIRE(shell("unshare --pid --fork sh -c 'sleep 30 & sleep 0.1; exit 0' iw-metrics-marker", 30) == 0);
    REQUIRE(watch.wait_for_finding("iw-metrics-marker", 30));
    const std::string metrics = curl("/metrics");
    INFO(metrics);
    initwatch::test::check_with_promtool(metrics);
    const auto samples = initwatch::test::read_samples(metrics);
    double warnings = 0;
    for (const auto& sample : samples)
        if (sample.name == "initwatch_findings_total" && sample.labels.at("severity") == "warning")
            warnings += sample.value;
    CHECK(warnings >= 1);
    // fork, exec, exit, snapshot, signal, oom_victim
    CHECK(initwatch::test::series_of(samples, "initwatch_events_total") == 6);
    CHECK(initwatch::test::value_of(samples, "initwatch_events_total", {{"type", "exec"}}) >= 1);
    CHECK(initwatch::test::value_of(samples, "initwatch_lost_events_total", {{"reason", "ringbuf_full"}}) ==
          0);
    CHECK(initwatch::test::series_of(samples, "initwatch_build_info") == 1);
    CHECK(initwatch::test::value_of(samples, "initwatch_tracked_processes") > 0);

    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(5);
    CHECK(r.status == 0);
    REQUIRE(r.findings_with("iw-metrics-marker").size() == 1);
    CHECK(r.findings_with("iw-metrics-marker")[0].at("node") == "node-under-test");
}

TEST_CASE("watch: 64 slow clients neither starve /healthz nor hold up SIGTERM") {
    require_root();
    const std::string output = temp_path("slow-clients.json");
    Background watch(
        {"watch", "--json", "--output", output, "--metrics-address", "127.0.0.1:0", "--log-level", "info"},
        output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    const uint16_t port = watch.metrics_port();
    REQUIRE(port != 0);

    // From 8 loopback addresses, as 8 pods would: each under the per-address limit.
    std::vector<std::string> sources;
    for (int i = 0; i < 8; ++i) sources.push_back("127.0.0." + std::to_string(16 + i));
    initwatch::test::SlowClients slow("127.0.0.1", port, 64, sources);
    REQUIRE(slow.connected() == 64);
    for (int round = 0; round < 5; ++round) {
        CAPTURE(round);
        const auto reply = initwatch::test::http_get("127.0.0.1", port, "/healthz", 3);
        CHECK(reply.status == 200);
        CHECK(reply.body == "ok\n");
        CHECK(reply.seconds < 1.0);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    CHECK(slow.still_open() == 64);

    const auto start = std::chrono::steady_clock::now();
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(10);
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    WARN("watch: exited " << took * 1000 << " ms after SIGTERM with 64 slow clients connected");
    CHECK(r.status == 0);
    CHECK(took < 1.5);
}
