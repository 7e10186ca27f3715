#include <initwatch/error.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../common/prometheus_text.h"
#include "../common/raw_http.h"
#include "http/endpoint.h"
#include "pipeline/health.h"
#include "report/clock.h"
#include "report/metrics.h"
#include "report/metrics_sink.h"
#include "util/time.h"

using namespace initwatch;
using namespace initwatch::test;

namespace {

std::map<std::string, std::string> finding_labels(const std::string& severity, const std::string& ns,
                                                  const std::string& pod, const std::string& container) {
    const std::string type = severity == "_other" ? "_other" : "init_exit";
    return {
        {"type", type}, {"severity", severity}, {"namespace", ns}, {"pod", pod}, {"container", container}};
}

const auto kOther = finding_labels("_other", "_other", "_other", "_other");

// The scrape as Prometheus would take it: promtool accepts it, and its samples.
std::vector<Sample> scrape(const report::Metrics& m) {
    const std::string text = m.exposition();
    CAPTURE(text);
    check_with_promtool(text);
    return read_samples(text);
}

}  // namespace

TEST_CASE("promtool rejects what the text format forbids, the reader a series given twice", "[metrics]") {
    const std::string head = "# HELP x_total Things.\n# TYPE x_total counter\n";
    const std::string good = head + "x_total{a=\"1\",b=\"q\\\"\\\\\\n\"} 3\n";
    const auto samples = read_samples(good);
    REQUIRE(samples.size() == 1);
    CHECK(samples[0].name == "x_total");
    CHECK(samples[0].labels == std::map<std::string, std::string>{{"a", "1"}, {"b", "q\"\\\n"}});
    CHECK(samples[0].value == 3);
    CHECK_THROWS_AS(read_samples(head + "x_total{a=\"1\"} 1\nx_total{a=\"1\"} 2\n"), std::runtime_error);

    if (!has_promtool()) return check_with_promtool(good);  // fails under CI=true, else warns
    CHECK(promtool_complaint(good) == "");
    for (const std::string& bad : std::vector<std::string>{
             "x_total 1\n",                               // no HELP
             head + "x_total{a=\"\\t\"} 1\n",             // unknown escape
             head + "x_total{a=\"1\" 1\n",                // unclosed labels
             head + "x_total{a=\"1\",a=\"2\"} 1\n",       // label twice
             head + "x_total 1e\n",                       // not a number
             head + "x_total{a=\"\xff\"} 1\n",            // not UTF-8
             "# HELP y Y.\n# TYPE y counter\ny 1\n",      // counter not *_total
             head + "x_total 1\n# TYPE x_total gauge\n",  // a second TYPE
         }) {
        CAPTURE(bad);
        CHECK(promtool_complaint(bad) != "");
    }
}

TEST_CASE("the exposition passes promtool with every family", "[metrics]") {
    report::Metrics m;
    m.set_build_info("0.1.0", "6.18.44");
    // As the pipeline reports them: cumulative counts by kind (fork, exec, exit, snapshot),
    // which the sink turns into increments; a repeat of the same totals adds nothing.
    report::MetricsSink sink(m);
    sink.events_counted({2, 1, 0, 0});
    sink.events_counted({3, 1, 1, 1});
    sink.events_counted({3, 1, 1, 1});
    m.count_finding("init_exit", "warning", "shop", "web-7d9f", "server");
    m.count_finding("init_exit", "warning", "shop", "web-7d9f", "server");
    m.count_finding("init_exit", "info", "", "", "");
    m.count_finding("worker_exit", "error", "shop", "web-7d9f", "server");
    m.set_lost("ringbuf_full", 7);
    m.set_lost("ringbuf_full", 9);  // cumulative: replaces
    m.set_lost("exit_map_full", 0);
    m.set_tracked(1234, 56);
    m.set_bpf_run_time("handle_exec", 0.125);

    const std::string text = m.exposition();
    CAPTURE(text);
    const std::map<std::string, std::string> kTypes = {
        {"initwatch_build_info", "gauge"},
        {"initwatch_events_total", "counter"},
        {"initwatch_lost_events_total", "counter"},
        {"initwatch_findings_total", "counter"},
        {"initwatch_findings_label_sets_dropped_total", "counter"},
        {"initwatch_tracked_processes", "gauge"},
        {"initwatch_tracked_containers", "gauge"},
        {"initwatch_bpf_run_time_seconds_total", "counter"},
    };
    size_t families = 0;
    for (size_t at = 0; (at = text.find("# TYPE ", at)) != std::string::npos; ++at) ++families;
    CHECK(families == kTypes.size());
    for (const auto& [name, type] : kTypes) {
        CAPTURE(name);
        CHECK(text.find("# TYPE " + name + " " + type + "\n") != std::string::npos);
        CHECK(text.find("# HELP " + name + " ") != std::string::npos);
    }

    const auto e = scrape(m);
    CHECK(value_of(e, "initwatch_build_info", {{"version", "0.1.0"}, {"kernel", "6.18.44"}}) == 1);
    CHECK(value_of(e, "initwatch_events_total", {{"type", "fork"}}) == 3);
    CHECK(value_of(e, "initwatch_events_total", {{"type", "exec"}}) == 1);
    CHECK(value_of(e, "initwatch_events_total", {{"type", "exit"}}) == 1);
    CHECK(value_of(e, "initwatch_events_total", {{"type", "snapshot"}}) == 1);
    CHECK(value_of(e, "initwatch_findings_total", finding_labels("warning", "shop", "web-7d9f", "server")) ==
          2);
    CHECK(value_of(e, "initwatch_findings_total", finding_labels("info", "", "", "")) == 1);
    auto worker = finding_labels("error", "shop", "web-7d9f", "server");
    worker["type"] = "worker_exit";
    CHECK(value_of(e, "initwatch_findings_total", worker) == 1);
    CHECK(value_of(e, "initwatch_findings_label_sets_dropped_total") == 0);
    CHECK(value_of(e, "initwatch_lost_events_total", {{"reason", "ringbuf_full"}}) == 9);
    CHECK(value_of(e, "initwatch_lost_events_total", {{"reason", "exit_map_full"}}) == 0);
    CHECK(value_of(e, "initwatch_tracked_processes") == 1234);
    CHECK(value_of(e, "initwatch_tracked_containers") == 56);
    CHECK(value_of(e, "initwatch_bpf_run_time_seconds_total", {{"program", "handle_exec"}}) == 0.125);
}

TEST_CASE("series are in label order, so that one scrape reads like the next", "[metrics]") {
    report::Metrics m;
    for (const char* pod : {"c", "a", "b"}) m.count_finding("init_exit", "warning", "ns", pod, "x");
    std::vector<std::string> order;
    for (const auto& s : scrape(m))
        if (s.name == "initwatch_events_total")
            order.push_back(s.labels.at("type"));
        else if (s.name == "initwatch_findings_total")
            order.push_back(s.labels.at("pod"));
    CHECK(order == std::vector<std::string>{"exec", "exit", "fork", "oom_victim", "signal", "snapshot", "a",
                                            "b", "c"});
}

TEST_CASE("a build info set again replaces the first", "[metrics]") {
    report::Metrics m;
    m.set_build_info("0.1.0", "6.1");
    m.set_build_info("0.1.0", "6.18");
    const auto e = scrape(m);
    CHECK(series_of(e, "initwatch_build_info") == 1);
    CHECK(value_of(e, "initwatch_build_info", {{"version", "0.1.0"}, {"kernel", "6.18"}}) == 1);
}

TEST_CASE("a fresh registry already exposes zero event counters", "[metrics]") {
    const auto e = scrape(report::Metrics());
    for (const char* type : {"fork", "exec", "exit", "snapshot", "signal", "oom_victim"})
        CHECK(value_of(e, "initwatch_events_total", {{"type", type}}) == 0);
    CHECK(series_of(e, "initwatch_findings_total") == 0);
    CHECK(series_of(e, "initwatch_build_info") == 0);
    CHECK(value_of(e, "initwatch_findings_label_sets_dropped_total") == 0);
}

TEST_CASE("label values are escaped as the text format says", "[metrics]") {
    report::Metrics m;
    const std::string hostile = "a\"b\\c\nd}, x=\"y";
    m.count_finding("init_exit", "warning", "ns", "pod", hostile);
    const std::string text = m.exposition();
    CHECK(text.find(R"(container="a\"b\\c\nd}, x=\"y")") != std::string::npos);
    CHECK(value_of(scrape(m), "initwatch_findings_total", finding_labels("warning", "ns", "pod", hostile)) ==
          1);
}

TEST_CASE("invalid UTF-8 in a label value cannot break the scrape", "[metrics]") {
    report::Metrics m;
    m.count_finding("init_exit", "warning", "ns", "p\xff", "c");
    m.count_finding("init_exit", "warning", "ns", "p\xfe", "c");              // the same series once replaced
    m.count_finding("init_exit", "warning", "ns", "\xc3\xa9t\xc3\xa9", "c");  // valid: kept
    m.count_finding("init_exit", "warning", "ns", "\xed\xa0\x80", "c");  // a UTF-16 surrogate is not UTF-8
    m.set_lost("r\xff", 1);
    m.set_bpf_run_time("p\xff", 1);
    m.set_build_info("v\xff", "k\xff");
    const auto e = scrape(m);
    CHECK(value_of(e, "initwatch_findings_total", finding_labels("warning", "ns", "p\xef\xbf\xbd", "c")) ==
          2);
    CHECK(value_of(e, "initwatch_findings_total",
                   finding_labels("warning", "ns", "\xc3\xa9t\xc3\xa9", "c")) == 1);
    CHECK(value_of(e, "initwatch_findings_total",
                   finding_labels("warning", "ns", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "c")) == 1);
    CHECK(value_of(e, "initwatch_lost_events_total", {{"reason", "r\xef\xbf\xbd"}}) == 1);
    CHECK(value_of(e, "initwatch_bpf_run_time_seconds_total", {{"program", "p\xef\xbf\xbd"}}) == 1);
    CHECK(value_of(e, "initwatch_build_info", {{"version", "v\xef\xbf\xbd"}, {"kernel", "k\xef\xbf\xbd"}}) ==
          1);
}

TEST_CASE("finding label sets are capped; the rest go to _other", "[metrics]") {
    report::Metrics m(3);
    for (int i = 0; i < 5; ++i)
        m.count_finding("init_exit", "warning", "ns", "pod-" + std::to_string(i), "c");
    m.count_finding("init_exit", "warning", "ns", "pod-0", "c");  // admitted before the cap: its own series
    m.count_finding("init_exit", "warning", "ns", "pod-4", "c");  // refused before: still _other
    m.count_finding("_other", "_other", "_other", "_other", "_other");  // same labels as the overflow

    const auto e = scrape(m);
    CHECK(series_of(e, "initwatch_findings_total") == 4);
    CHECK(value_of(e, "initwatch_findings_total", finding_labels("warning", "ns", "pod-0", "c")) == 2);
    CHECK(value_of(e, "initwatch_findings_total", finding_labels("warning", "ns", "pod-1", "c")) == 1);
    CHECK(value_of(e, "initwatch_findings_total", finding_labels("warning", "ns", "pod-2", "c")) == 1);
    CHECK(value_of(e, "initwatch_findings_total", kOther) == 4);
    CHECK(value_of(e, "initwatch_findings_label_sets_dropped_total") == 3);
}

TEST_CASE("an _other finding takes no label set", "[metrics]") {
    report::Metrics m(1);
    m.count_finding("_other", "_other", "_other", "_other", "_other");
    m.count_finding("init_exit", "warning", "ns", "pod", "c");
    const auto e = scrape(m);
    CHECK(value_of(e, "initwatch_findings_total", finding_labels("warning", "ns", "pod", "c")) == 1);
    CHECK(value_of(e, "initwatch_findings_total", kOther) == 1);
    CHECK(value_of(e, "initwatch_findings_label_sets_dropped_total") == 0);
}

TEST_CASE("the default cap is 500 label sets", "[metrics]") {
    report::Metrics m;
    for (int i = 0; i < 600; ++i)
        m.count_finding("init_exit", "warning", "ns", "pod-" + std::to_string(i), "c");
    const auto e = scrape(m);
    CHECK(series_of(e, "initwatch_findings_total") == 501);
    CHECK(value_of(e, "initwatch_findings_total", kOther) == 100);
    CHECK(value_of(e, "initwatch_findings_label_sets_dropped_total") == 100);
}

TEST_CASE("float values are Prometheus floats", "[metrics]") {
    report::Metrics m;
    m.set_bpf_run_time("a", 12345.123456789);
    m.set_bpf_run_time("b", 1e-9);
    m.set_bpf_run_time("c", 0);
    const std::string text = m.exposition();
    CHECK(text.find("program=\"a\"} 12345.123456789\n") != std::string::npos);
    const auto e = scrape(m);
    CHECK(value_of(e, "initwatch_bpf_run_time_seconds_total", {{"program", "b"}}) == 1e-9);
    CHECK(value_of(e, "initwatch_bpf_run_time_seconds_total", {{"program", "c"}}) == 0);
}

TEST_CASE("cumulative totals only go up, as counters do", "[metrics]") {
    report::Metrics m;
    m.set_lost("ringbuf_full", 5);
    m.set_lost("ringbuf_full", 3);  // never below what was exposed
    m.set_bpf_run_time("handle_exec", 2.5);
    m.set_bpf_run_time("handle_exec", 4.0);
    const auto e = scrape(m);
    CHECK(value_of(e, "initwatch_lost_events_total", {{"reason", "ringbuf_full"}}) == 5);
    CHECK(value_of(e, "initwatch_bpf_run_time_seconds_total", {{"program", "handle_exec"}}) == 4.0);
}

TEST_CASE("counting while another thread renders", "[metrics]") {
    report::Metrics m(10);
    std::atomic<bool> done{false};
    std::thread collector([&] {
        for (int i = 0; i < 100000; ++i) {
            m.add_events(report::EventKind::exec, 1);
            if (i % 1000 == 0)
                m.count_finding("init_exit", "warning", "ns", "pod-" + std::to_string(i / 1000), "c");
        }
        done = true;
    });
    int scrapes = 0;
    while (!done || scrapes == 0) {
        read_samples(m.exposition());  // promtool once at the end: a process per scrape is too slow here
        ++scrapes;
    }
    collector.join();
    const auto e = scrape(m);
    CHECK(value_of(e, "initwatch_events_total", {{"type", "exec"}}) == 100000);
    CHECK(value_of(e, "initwatch_findings_total", kOther) == 90);
}

TEST_CASE("health: attached and drained recently; ready after the snapshot", "[metrics]") {
    pipeline::Health h;
    const uint64_t t = 100'000'000'000ULL;
    CHECK_FALSE(h.healthz(t));
    h.set_attached();
    CHECK_FALSE(h.healthz(t));  // never drained
    h.set_drained(t);
    CHECK(h.healthz(t));
    CHECK(h.healthz(t + pipeline::Health::kMaxDrainAgeNs));
    CHECK_FALSE(h.healthz(t + pipeline::Health::kMaxDrainAgeNs + 1));
    CHECK(h.healthz(t - 1));  // drained after the caller read its clock
    CHECK_FALSE(h.readyz());
    h.set_snapshot_done();
    CHECK(h.readyz());
}

TEST_CASE("listen addresses: the forms --metrics-address takes", "[metrics][http]") {
    const auto parse = [](const char* s) {
        const http::ListenAddress a = http::parse_listen_address(s);
        return a.host + "|" + std::to_string(a.port);
    };
    CHECK(parse(":9090") == "|9090");
    CHECK(parse("0.0.0.0:9090") == "0.0.0.0|9090");
    CHECK(parse("127.0.0.1:0") == "127.0.0.1|0");
    CHECK(parse("[::1]:9090") == "::1|9090");
    CHECK(parse("[::]:65535") == "::|65535");
    CHECK(parse("localhost:80") == "localhost|80");
    for (const char* bad : {"", "9090", ":", "host:", ":65536", ":123456", ":-1", ":9o90", "::1:9090",
                            "[::1]", "[::1]9090", "[]:9090", "[::1:9090", "host:+80"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(http::parse_listen_address(bad), Error);
    }
}

TEST_CASE("the HTTP endpoint serves /metrics, /healthz and /readyz", "[metrics][http]") {
    report::Metrics m;
    pipeline::Health h;
    m.count_finding("init_exit", "warning", "shop", "web", "server");
    http::HttpEndpoint endpoint("127.0.0.1:0", m, h);
    REQUIRE(endpoint.port() != 0);

    const auto get = [&](const std::string& path) { return http_get("127.0.0.1", endpoint.port(), path); };

    auto res = get("/metrics");
    REQUIRE(res.status == 200);
    CHECK(res.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
    check_with_promtool(res.body);
    CHECK(value_of(read_samples(res.body), "initwatch_findings_total",
                   finding_labels("warning", "shop", "web", "server")) == 1);

    res = get("/healthz");
    CHECK(res.status == 503);
    CHECK(res.body == "probes not attached\n");
    h.set_attached();
    h.set_drained(util::monotonic_now_ns() - 10'000'000'000ULL);
    res = get("/healthz");
    CHECK(res.status == 503);
    CHECK(res.body.find("ring buffer last drained") == 0);
    h.set_drained(util::monotonic_now_ns());
    res = get("/healthz");
    CHECK(res.status == 200);
    CHECK(res.body == "ok\n");

    res = get("/readyz");
    CHECK(res.status == 503);
    h.set_snapshot_done();
    res = get("/readyz");
    CHECK(res.status == 200);
    CHECK(res.body == "ready\n");

    CHECK(get("/other").status == 404);
    CHECK(get("/healthz?verbose=1").status == 200);  // a query does not change the path
    res = http_request("127.0.0.1", endpoint.port(), "HEAD", "/healthz");
    CHECK(res.status == 200);
    CHECK(res.body.empty());
    res = http_request("127.0.0.1", endpoint.port(), "POST", "/healthz");
    CHECK(res.status == 405);
    CHECK(res.header("allow") == "GET, HEAD");
}

TEST_CASE("the HTTP endpoint serves IPv6 loopback", "[metrics][http]") {
    report::Metrics m;
    pipeline::Health h;
    std::unique_ptr<http::HttpEndpoint> endpoint;
    try {
        endpoint = std::make_unique<http::HttpEndpoint>("[::1]:0", m, h);
    } catch (const Error& e) {
        WARN("no IPv6 loopback here: " << e.what());
        return;
    }
    CHECK(http_get("::1", endpoint->port(), "/metrics").status == 200);
}

TEST_CASE("a port in use is a one-line initwatch::Error", "[metrics][http]") {
    report::Metrics m;
    pipeline::Health h;
    http::HttpEndpoint first("127.0.0.1:0", m, h);
    const std::string address = "127.0.0.1:" + std::to_string(first.port());
    try {
        http::HttpEndpoint second(address, m, h);
        FAIL("a second endpoint bound " << address);
    } catch (const Error& e) {
        const std::string what = e.what();
        CHECK(what == "cannot listen on " + address + " (--metrics-address): Address already in use");
        CHECK(what.find('\n') == std::string::npos);
    }
}
