// What makes repeated findings one Event: the series key and the Event's name, stable across
// runs of the same failure whatever the order and number of the processes it left behind.
#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "k8s/api_client.h"
#include "k8s/events_sink.h"
#include "k8s/note.h"

using namespace initwatch;

namespace {

meta::FindingContext pod_context(const std::string& uid = "c6ef09de-9833-4af7-a438-b4c96b9c0955") {
    meta::FindingContext c;
    c.node = "node-7";
    c.container.name = "workers";
    c.container.pod = meta::PodRef{"api-58d4c7f9b6-q9wzt", "payments", uid};
    return c;
}

// init `/bin/sh /startup.sh` exits 0 leaving `count` workers, each `sh -c 'sleep 3600; : worker-N
// <padding>'`, in `order`.
model::Finding workers_finding(const std::vector<int>& order) {
    model::Finding f;
    f.severity = model::Severity::warning;
    f.init.comm = "startup.sh";
    f.init.argv = model::Argv{"/bin/sh", "/startup.sh"};
    f.init.status = model::ExitStatus::decode(0);
    for (int n : order) {
        model::LiveProcess p;
        p.pid = 1000 + static_cast<uint32_t>(n);
        p.comm = n % 2 ? "sh" : "sleep";
        p.argv = n % 2 ? model::Argv{"sh", "-c",
                                     "sleep 3600; : worker-" + std::to_string(n) + std::string(n * 3, 'x')}
                       : model::Argv{"sleep", std::to_string(3600 + n)};
        p.how = model::How::background;
        f.live.push_back(p);
    }
    f.live_count = f.live.size();
    f.diagnosis = model::diagnose(f);
    return f;
}

}  // namespace

TEST_CASE("the same failure with its workers in another order is one series, though its note differs") {
    std::vector<int> order(20);
    for (int n = 0; n < 20; ++n) order[n] = n + 1;
    const model::Finding first = workers_finding(order);
    std::mt19937 random(42);
    std::shuffle(order.begin(), order.end(), random);
    const model::Finding again = workers_finding(order);
    // What the API server measured: "and 37 more" one run, "and 36 more" the next.
    CHECK(k8s::finding_note(first) != k8s::finding_note(again));
    const meta::FindingContext c = pod_context();
    CHECK(k8s::series_key(first, c) == k8s::series_key(again, c));
    CHECK(k8s::series_event_name("api-58d4c7f9b6-q9wzt", k8s::series_key(first, c)) ==
          k8s::series_event_name("api-58d4c7f9b6-q9wzt", k8s::series_key(again, c)));

    // Fewer left behind (one crashed first): still the same programs, the same failure.
    std::vector<int> fewer(order.begin(), order.end() - 3);
    CHECK(k8s::series_key(workers_finding(fewer), c) == k8s::series_key(first, c));
}

TEST_CASE("another failure is another series: pod, container, init's command or end, the programs left") {
    std::vector<int> order{1, 2, 3};
    const model::Finding f = workers_finding(order);
    const meta::FindingContext c = pod_context();
    const std::string key = k8s::series_key(f, c);
    CHECK(k8s::series_key(f, pod_context("00000000-9833-4af7-a438-b4c96b9c0955")) != key);
    meta::FindingContext other_container = c;
    other_container.container.name = "app";
    CHECK(k8s::series_key(f, other_container) != key);
    model::Finding other_init = f;
    other_init.init.argv = model::Argv{"/bin/sh", "/other.sh"};
    CHECK(k8s::series_key(other_init, c) != key);
    model::Finding crashed = f;
    crashed.init.status = model::ExitStatus::decode(11);  // SIGSEGV
    crashed.severity = model::Severity::error;
    CHECK(k8s::series_key(crashed, c) != key);
    model::Finding other_program = f;
    other_program.live[0].comm = "node";
    CHECK(k8s::series_key(other_program, c) != key);
    // Not pids, times or arguments of what was left.
    model::Finding rerun = f;
    rerun.init.pid = 77;
    rerun.ts_ns = 123;
    rerun.live[1].argv = model::Argv{"sleep", "99"};
    rerun.live[1].pid = 5;
    CHECK(k8s::series_key(rerun, c) == key);
}

TEST_CASE("a series' Event name: the pod's name and the key's hash, a DNS subdomain of at most 253") {
    const std::string name = k8s::series_event_name("web-0", "key");
    CHECK(name.rfind("web-0.", 0) == 0);
    CHECK(name.size() == 6 + 16);
    CHECK(name == k8s::series_event_name("web-0", "key"));
    CHECK(name != k8s::series_event_name("web-0", "another key"));
    // A pod name of 253 characters is cut, never ending in '-' or '.', leaving room for a
    // fallback Event's own suffix.
    const std::string long_pod = std::string(218, 'a') + "-b" + std::string(33, 'c');
    const std::string cut = k8s::series_event_name(long_pod, "key");
    CHECK(cut.size() + 17 <= 253);
    CHECK(cut.substr(0, 218) == std::string(218, 'a'));
    CHECK(cut[218] == '.');
}

TEST_CASE("an Event with a series, for a recreated or fallback Event") {
    const meta::FindingContext c = pod_context();
    const auto plain =
        nlohmann::json::parse(k8s::event_json(c, "n", "2026-01-01T00:00:00.000000Z", "R", "A", "note"));
    CHECK(!plain.contains("series"));
    const auto with = nlohmann::json::parse(k8s::event_json(c, "n", "2026-01-01T00:00:00.000000Z", "R", "A",
                                                            "note", 3, "2026-01-01T00:00:10.000000Z"));
    CHECK(with["series"] ==
          nlohmann::json{{"count", 3}, {"lastObservedTime", "2026-01-01T00:00:10.000000Z"}});
    CHECK(with["eventTime"] == "2026-01-01T00:00:00.000000Z");
}

TEST_CASE("a Status object's reason and message, decoded once") {
    const auto s = k8s::parse_status(
        R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"events.events.k8s.io is )"
        R"(forbidden: User \"system:serviceaccount:initwatch:nobody\" cannot create resource \"events\"","reason":)"
        R"("Forbidden","details":{"group":"events.k8s.io","kind":"events"},"code":403})");
    REQUIRE(s);
    CHECK(s->reason == "Forbidden");
    CHECK(s->message ==
          R"(events.events.k8s.io is forbidden: User "system:serviceaccount:initwatch:nobody" cannot create )"
          R"(resource "events")");
    CHECK(!k8s::parse_status("<html>bad gateway</html>"));
    CHECK(!k8s::parse_status(R"({"kind":"Event"})"));
}
