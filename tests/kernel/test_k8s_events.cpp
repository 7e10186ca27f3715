// --kubernetes-events with real runc containers against a real kube-apiserver v1.20.2
// (fixtures/kube.h: tools/kube, built from Debian's source, one control plane per test in a
// temp dir): the shipped RBAC of deploy/kubernetes, the agent acting as its ServiceAccount
// through a kubeconfig, Pod objects whose real uids the containers' kubelet layout carries,
// and `kubectl describe pod` as the person with the crash loop reads it. Then a real node:
// kubelet crash-loops the story's image, and initwatch runs from its own image as the
// DaemonSet of deploy/kubernetes.
//
// The stand-in of tests/standin/kube_apiserver.py only for what a real server cannot be made
// to do: answer 429 or 500, or hang; tests/standin/compare.py checks that it answers the rest
// as the real one does.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "../common/raw_http.h"
#include "fixtures/kube.h"
#include "harness.h"
#include "runtimes.h"

using namespace initwatch::ktest;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kController = "initwatch.io/initwatch";

void write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

template <typename Pred>
bool eventually(Pred pred, double timeout_s) {
    const auto until = Clock::now() + std::chrono::duration<double>(patience(timeout_s));
    while (!pred()) {
        if (Clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

// The lines of `text` that hold `what`.
std::vector<std::string> lines_with(const std::string& text, const std::string& what) {
    std::vector<std::string> out;
    for (const auto& line : split_lines(text))
        if (line.find(what) != std::string::npos) out.push_back(line);
    return out;
}

// The stand-in, its CA, and a kubeconfig that points initwatch at it.
class StandIn {
public:
    explicit StandIn(const std::string& namespaces = "default,payments,shop") : dir_(temp_path("apiserver")) {
        require_programs({"openssl"});
        REQUIRE(run_cmd({"mkdir", "-p", dir_}).status == 0);
        const std::string ca_key = dir_ + "/ca.key", ca = dir_ + "/ca.crt";
        const std::string key = dir_ + "/server.key", csr = dir_ + "/server.csr", crt = dir_ + "/server.crt";
        REQUIRE(run_cmd({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
                         "-out", ca, "-days", "1", "-subj", "/CN=initwatch-test-ca"})
                    .status == 0);
        REQUIRE(run_cmd({"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                         "-subj", "/CN=kube-apiserver"})
                    .status == 0);
        write(dir_ + "/san.ext", "subjectAltName=IP:127.0.0.1\n");
        REQUIRE(run_cmd({"openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                         "-CAcreateserial", "-out", crt, "-days", "1", "-extfile", dir_ + "/san.ext"})
                    .status == 0);
        token_ = random_hex(32);
        control_ = dir_ + "/control.json";
        log_ = dir_ + "/requests.jsonl";
        write(control_, R"({"next": []})");
        write(log_, "");
        const std::string port_file = dir_ + "/port";
        server_ = std::make_unique<Background>(
            std::vector<std::string>{std::string(STANDIN_DIR) + "/kube_apiserver.py", "--cert", crt, "--key",
                                     key, "--token", token_, "--port-file", port_file, "--log", log_,
                                     "--control", control_, "--namespaces", namespaces},
            "", kPython);
        const auto until = Clock::now() + std::chrono::seconds(15);
        while (read_file(port_file).empty() && Clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        port_ = read_file(port_file);
        INFO("stand-in output: " << server_->output_so_far());
        REQUIRE(!port_.empty());
        kubeconfig_ = dir_ + "/kubeconfig";
        // Relative names, as kubectl allows: relative to the kubeconfig's directory.
        write(kubeconfig_,
              "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
              "clusters:\n- name: standin\n  cluster:\n    server: https://127.0.0.1:" +
                  port_ +
                  "\n    certificate-authority: ca.crt\n"
                  "users:\n- name: initwatch\n  user:\n    token: " +
                  token_ +
                  "\n"
                  "contexts:\n- name: test\n  context:\n    cluster: standin\n    user: initwatch\n");
    }
    ~StandIn() { run_cmd({"rm", "-rf", dir_}); }

    const std::string& kubeconfig() const { return kubeconfig_; }
    // The answers to the next requests, before the normal handling: "429", "500", "hang".
    void script(const std::vector<std::string>& next) { write(control_, json{{"next", next}}.dump()); }
    // Requests answered, in order (with their status), or received (answered or not).
    std::vector<json> requests(const std::string& phase = "answered") const {
        std::vector<json> out;
        for (const auto& r : parse_json_lines(read_file(log_)))
            if (r.value("phase", "") == phase) out.push_back(r);
        return out;
    }

private:
    std::string dir_, token_, control_, log_, port_, kubeconfig_;
    std::unique_ptr<Background> server_;
};

// `initwatch watch --kubernetes-events` in the background, named as a node of the cluster,
// its metrics on a port of its own: what became of each finding's Event.
class EventsWatch {
public:
    EventsWatch(const std::string& kubeconfig, const std::string& host_root)
        : output_(temp_path("events.json")) {
        std::vector<std::string> args{"watch",
                                      "--json",
                                      "--output",
                                      output_,
                                      "--duration",
                                      "240",
                                      "--log-level",
                                      "info",
                                      "--node-name",
                                      "node-7",
                                      "--kubernetes-events",
                                      "--kubeconfig",
                                      kubeconfig,
                                      "--metrics-address",
                                      "127.0.0.1:0"};
        if (!host_root.empty()) args.insert(args.end(), {"--host-root", host_root});
        bg_ = std::make_unique<Background>(args, output_);
        REQUIRE(bg_->wait_for_output("probes attached", patience(30)));
        REQUIRE(bg_->wait_for_output("snapshot:", patience(30)));
        port_ = bg_->metrics_port();
        REQUIRE(port_ != 0);
    }
    ~EventsWatch() {
        if (bg_ && !finished_) {
            kill(bg_->pid(), SIGKILL);
            bg_->finish(10);
        }
    }
    // Findings about `cgroup` so far.
    std::vector<json> findings_about(const std::string& cgroup) const {
        std::vector<json> out;
        for (const auto& l : bg_->lines_so_far())
            if (l.value("type", "") == "init_exit" && l.contains("container") &&
                l["container"].value("cgroup_path", "") == cgroup)
                out.push_back(l);
        return out;
    }
    bool wait_for_finding(const std::string& cgroup, double timeout_s) const {
        return eventually([&] { return !findings_about(cgroup).empty(); }, timeout_s);
    }
    // initwatch_kubernetes_events_total by result, scraped now.
    std::map<std::string, int> results() const {
        std::map<std::string, int> out;
        const auto reply = initwatch::test::http_get("127.0.0.1", port_, "/metrics");
        const std::string prefix = "initwatch_kubernetes_events_total{result=\"";
        for (const auto& line : split_lines(reply.body))
            if (line.rfind(prefix, 0) == 0) {
                const size_t end = line.find('"', prefix.size());
                out[line.substr(prefix.size(), end - prefix.size())] =
                    std::stoi(line.substr(line.rfind(' ') + 1));
            }
        return out;
    }
    // Results of findings about pods: an Event written, or given up on (not no_pod: whatever
    // else on the machine leaves processes behind in a namespace is a finding without a pod).
    int about_pods() const {
        int n = 0;
        for (const auto& [result, count] : results())
            if (result != "no_pod") n += count;
        return n;
    }
    std::map<std::string, int> pod_results() const {
        std::map<std::string, int> out = results();
        out.erase("no_pod");
        return out;
    }
    bool wait_for_results(int n, double timeout_s) const {
        return eventually([&] { return about_pods() >= n; }, timeout_s);
    }
    std::string log() const { return bg_->output_so_far(); }
    // SIGINT; the time it took to exit.
    double stop(Result& result) {
        const auto start = Clock::now();
        kill(bg_->pid(), SIGINT);
        result = bg_->finish(20);
        finished_ = true;
        return std::chrono::duration<double>(Clock::now() - start).count();
    }

private:
    std::string output_;
    std::unique_ptr<Background> bg_;
    uint16_t port_ = 0;
    bool finished_ = false;
};

// One run of a pod's container: a runc container in kubelet's cgroupfs layout with its log
// layout, started and run until it stops and the agent has reported its init's exit.
class PodContainerRun {
public:
    PodContainerRun(KubeletLogs& logs, const PodRef& pod, const std::string& container,
                    const std::string& script, int restart)
        : id_(random_container_id()),
          cgroup_(kubepods_cgroupfs_path("besteffort", pod.uid, id_)),
          runc_({id_, cgroup_, script, {"/startup.sh"}, ""}) {
        logs.add_container(pod, container, id_, restart);
    }
    const std::string& cgroup() const { return cgroup_; }
    void run(const EventsWatch& watch) {
        runc_.start();
        REQUIRE(runc_.wait_for_status("stopped", patience(20)));
        REQUIRE(watch.wait_for_finding(cgroup_, 15));
    }

private:
    std::string id_, cgroup_;
    RuncContainer runc_;
};

// 20 workers, each a shell that runs a sleep, started in another order each run (the order
// of the finding's list, so of the note's: which of them it has room for changes too), then
// init exits 0.
std::string workers_script(std::mt19937& random) {
    std::vector<int> order(20);
    for (int n = 0; n < 20; ++n) order[n] = n + 1;
    std::shuffle(order.begin(), order.end(), random);
    std::string script = "#!/bin/sh\ntrap '' HUP\n";
    for (int n : order)
        script +=
            "sh -c 'sleep 3600; : worker-" + std::to_string(n) + "-" + std::string(n * 4, 'x') + "' &\n";
    return script + "sleep 1\nexit 0\n";
}

// The Events initwatch wrote in a namespace.
std::vector<json> initwatch_events(const KubeCluster& kube, const std::string& ns) {
    std::vector<json> out;
    for (const auto& e : kube.events(ns))
        if (e.value("reportingController", "") == kController) out.push_back(e);
    return out;
}

const json* event_for(const std::vector<json>& events, const std::string& container) {
    for (const auto& e : events)
        if (e["regarding"].value("fieldPath", "") == "spec.containers{" + container + "}") return &e;
    return nullptr;
}

int series_count(const json& event) {
    return event.contains("series") && event["series"].is_object() ? event["series"].value("count", 0) : 1;
}

// The Events table of `kubectl describe pod`.
std::string describe_events(const CmdResult& describe) {
    const size_t at = describe.output.find("Events:");
    return at == std::string::npos ? "" : describe.output.substr(at);
}

// For the record: what a person sees (ctest -V, or the log of a failure).
void show(const std::string& what, const std::string& text) {
    std::fprintf(stderr, "--- %s\n%s\n", what.c_str(), text.c_str());
}

std::string newer_kubectl() {
    // Google Cloud SDK's on these machines; any kubectl other than Debian's 1.20 in PATH.
    const std::string path = find_program("kubectl");
    return path.empty() || access(path.c_str(), X_OK) != 0 ? "" : path;
}

}  // namespace

TEST_CASE(
    "kubernetes events, real API server: the story's failure three times is one Event of series.count 3 "
    "under the pod (describe pod), and so is a failure whose 20 left-behind workers come in another order "
    "each run, and no pod makes no Event",
    "[container][runc][kube]") {
    require_root();
    require_programs({"runc", "busybox"});
    KubeCluster kube;
    kube.apply_deploy();
    kube.create_namespace("payments");
    const PodRef pod = kube.create_pod("payments", "api-58d4c7f9b6-q9wzt", {{"app"}, {"workers"}});
    // The agent as the shipped ServiceAccount: create and patch on events, nothing else.
    const std::string kubeconfig = kube.service_account_kubeconfig("initwatch", "initwatch");
    KubeletLogs logs;
    EventsWatch watch(kubeconfig, logs.host_root());

    {  // A container outside any pod: a finding, and no Event.
        const std::string cgroup = "/initwatch-test-nopod-" + random_hex(8);
        RuncContainer c(
            {random_container_id(), cgroup, container_asset("server-backgrounded.sh"), {"/startup.sh"}, ""});
        c.start();
        REQUIRE(c.wait_for_status("stopped", patience(20)));
        REQUIRE(watch.wait_for_finding(cgroup, 15));
        REQUIRE(eventually([&] { return watch.results()["no_pod"] >= 1; }, 15));
    }
    std::mt19937 random(std::random_device{}());
    std::vector<std::string> worker_cgroups;
    for (int restart = 0; restart < 3; ++restart) {
        // kubelet's restarts are seconds apart: each write is done before the next failure.
        PodContainerRun app(logs, pod, "app", container_asset("server-backgrounded.sh"), restart);
        app.run(watch);
        REQUIRE(watch.wait_for_results(1 + 2 * restart, 20));
        PodContainerRun workers(logs, pod, "workers", workers_script(random), restart);
        workers.run(watch);
        worker_cgroups.push_back(workers.cgroup());
        REQUIRE(watch.wait_for_results(2 + 2 * restart, 20));
    }
    // The workers' lists came in different orders: the notes differed, the series did not.
    std::vector<std::vector<std::string>> orders;
    for (const auto& cgroup : worker_cgroups) {
        std::vector<std::string> order;
        const json finding = watch.findings_about(cgroup).at(0);
        for (const auto& p : finding["live"])
            if (p["argv"].size() == 3) order.push_back(p["argv"][2]);
        INFO("finding: " << finding.dump());
        CHECK(order.size() == 20);
        orders.push_back(order);
    }
    CHECK((orders[0] != orders[1] || orders[1] != orders[2]));

    const std::map<std::string, int> results = watch.pod_results();
    Result result;
    watch.stop(result);
    INFO("initwatch stderr: " << result.err);
    CHECK(result.status == 0);
    CHECK(results == std::map<std::string, int>{{"created", 2}, {"patched", 4}});
    CHECK(count_of(result.err, "refused") == 0);

    const std::vector<json> events = initwatch_events(kube, "payments");
    INFO("Events: " << json(events).dump());
    REQUIRE(events.size() == 2);
    const json* app = event_for(events, "app");
    const json* workers = event_for(events, "workers");
    REQUIRE(app);
    REQUIRE(workers);
    CHECK(series_count(*app) == 3);
    CHECK(series_count(*workers) == 3);
    CHECK((*app)["type"] == "Warning");
    CHECK((*app)["reason"] == "InitExitedLeavingProcesses");
    CHECK((*app)["reportingInstance"] == "node-7");
    CHECK((*app)["regarding"] == json{{"apiVersion", "v1"},
                                      {"kind", "Pod"},
                                      {"namespace", "payments"},
                                      {"name", pod.name},
                                      {"uid", pod.uid},
                                      {"fieldPath", "spec.containers{app}"}});
    const std::string note = (*app)["note"];
    CHECK(note.find("init `/bin/sh /startup.sh` ended (exit 0) leaving 1 process: `sleep 3600` (background, "
                    "nohup)") != std::string::npos);
    CHECK(note.find(std::to_string(getpid())) == std::string::npos);
    CHECK(std::string((*workers)["note"]).find("leaving 40 processes") != std::string::npos);
    // Nowhere else: the finding without a pod made none.
    const CmdResult all = kube.kubectl({"get", "--raw", "/apis/events.k8s.io/v1/events"});
    REQUIRE(all.status == 0);
    CHECK(count_of(all.output, kController) == 2);

    // What the person with the crash loop sees. Debian's kubectl 1.20 shows the Event (v1
    // Events carry no `count` for it); a newer kubectl shows the series' count.
    const CmdResult describe = kube.kubectl({"-n", "payments", "describe", "pod", pod.name});
    REQUIRE(describe.status == 0);
    show("kubectl 1.20 describe pod (Events)", describe_events(describe));
    const auto rows = lines_with(describe_events(describe), "InitExitedLeavingProcesses");
    REQUIRE(rows.size() == 2);
    for (const auto& row : rows) {
        CHECK(row.find("Warning") != std::string::npos);
        CHECK(row.find(kController) != std::string::npos);
        CHECK(row.find("init `/bin/sh /startup.sh` ended (exit 0) leaving") != std::string::npos);
    }
    if (const std::string kubectl = newer_kubectl(); !kubectl.empty()) {
        const CmdResult newer = kube.kubectl_with(kubectl, {"-n", "payments", "describe", "pod", pod.name});
        REQUIRE(newer.status == 0);
        show(kubectl + " describe pod (Events)", describe_events(newer));
        const auto counted = lines_with(describe_events(newer), "InitExitedLeavingProcesses");
        REQUIRE(counted.size() == 2);
        for (const auto& row : counted) CHECK(row.find("(x3 over ") != std::string::npos);
    }
}

TEST_CASE(
    "kubernetes events, real API server: a deleted Event is made again with its count carried on, and a "
    "restarted agent (a client certificate's) goes on with the series",
    "[container][runc][kube]") {
    require_root();
    require_programs({"runc", "busybox", "openssl"});
    KubeCluster kube;
    kube.apply_deploy();
    kube.create_namespace("shop");
    const PodRef pod = kube.create_pod("shop", "web-0", {{"web"}});
    const std::string account = kube.service_account_kubeconfig("initwatch", "initwatch");
    // A node agent authenticated by a client certificate, bound to the shipped ClusterRole.
    kube.apply(json{
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRoleBinding"},
        {"metadata", {{"name", "initwatch-events-certificate"}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "initwatch-events"}}},
        {"subjects", {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", "node-7"}}}}}
                   .dump());
    const std::string certificate = kube.client_certificate_kubeconfig("node-7");
    KubeletLogs logs;
    const std::string script = container_asset("server-backgrounded.sh");

    std::string name, first_time;
    {
        EventsWatch watch(account, logs.host_root());
        PodContainerRun first(logs, pod, "web", script, 0);
        first.run(watch);
        REQUIRE(watch.wait_for_results(1, 20));
        std::vector<json> events = initwatch_events(kube, "shop");
        REQUIRE(events.size() == 1);
        name = events[0]["metadata"]["name"];
        first_time = events[0]["eventTime"];
        CHECK(series_count(events[0]) == 1);

        // Deleted (as the API server's TTL would): the next PATCH is a 404, counted, and the
        // Event is made again under its name with the count carried on.
        kube.delete_event("shop", name);
        PodContainerRun second(logs, pod, "web", script, 1);
        second.run(watch);
        REQUIRE(watch.wait_for_results(2, 20));
        CHECK(watch.pod_results() == std::map<std::string, int>{{"created", 1}, {"recreated", 1}});
        events = initwatch_events(kube, "shop");
        INFO("Events: " << json(events).dump());
        REQUIRE(events.size() == 1);
        CHECK(events[0]["metadata"]["name"] == name);
        CHECK(series_count(events[0]) == 2);
        CHECK(events[0]["eventTime"] == first_time);
        Result result;
        watch.stop(result);
        CHECK(result.status == 0);
        CHECK(count_of(result.err, "refused") == 0);
    }
    {
        // Another agent, a new process (with a client certificate): nothing in memory. Its
        // create under the series' name is refused as AlreadyExists; an empty PATCH reads
        // the stored count; the series goes on.
        EventsWatch watch(certificate, logs.host_root());
        PodContainerRun third(logs, pod, "web", script, 2);
        third.run(watch);
        REQUIRE(watch.wait_for_results(1, 20));
        CHECK(watch.pod_results() == std::map<std::string, int>{{"patched", 1}});
        const std::vector<json> events = initwatch_events(kube, "shop");
        INFO("Events: " << json(events).dump());
        REQUIRE(events.size() == 1);
        CHECK(events[0]["metadata"]["name"] == name);
        CHECK(series_count(events[0]) == 3);
        CHECK(events[0]["eventTime"] == first_time);
        Result result;
        watch.stop(result);
        INFO("initwatch stderr: " << result.err);
        CHECK(result.status == 0);
        CHECK(result.err.find("Kubernetes Events go to https://127.0.0.1:") != std::string::npos);
        CHECK(count_of(result.err, "refused") == 0);
    }
    const CmdResult describe = kube.kubectl({"-n", "shop", "describe", "pod", pod.name});
    show("kubectl 1.20 describe pod (Events)", describe_events(describe));
    CHECK(lines_with(describe_events(describe), "InitExitedLeavingProcesses").size() == 1);
}

TEST_CASE(
    "kubernetes events, real API server: with create-only RBAC each repeat is a new Event with its count in "
    "the note, said once, without rights every 403 is counted and logged once with the server's message, and "
    "a "
    "namespace that does not exist is a 404 logged with it",
    "[container][runc][kube]") {
    require_root();
    require_programs({"runc", "busybox"});
    KubeCluster kube;
    kube.create_namespace("initwatch-test");
    kube.create_namespace("payments");
    kube.create_service_account("initwatch-test", "creator");
    kube.grant_events("initwatch-test", "creator", {"create"});
    kube.create_service_account("initwatch-test", "nobody");
    const PodRef pod = kube.create_pod("payments", "api-0", {{"app"}});
    KubeletLogs logs;
    // Two agents see the same failures: one may only create Events, the other nothing.
    EventsWatch creator(kube.service_account_kubeconfig("initwatch-test", "creator"), logs.host_root());
    EventsWatch nobody(kube.service_account_kubeconfig("initwatch-test", "nobody"), logs.host_root());
    const std::string script = container_asset("server-backgrounded.sh");
    for (int restart = 0; restart < 3; ++restart) {
        PodContainerRun run(logs, pod, "app", script, restart);
        run.run(creator);
        REQUIRE(creator.wait_for_results(restart + 1, 20));
        REQUIRE(nobody.wait_for_results(restart + 1, 40));
    }
    // A pod of a namespace that does not exist (its layout only).
    const PodRef ghost{"ghost-0", "initwatch-absent", random_pod_uid()};
    PodContainerRun run(logs, ghost, "app", script, 0);
    run.run(creator);
    REQUIRE(creator.wait_for_results(4, 20));
    REQUIRE(nobody.wait_for_results(4, 40));

    const std::map<std::string, int> creator_results = creator.pod_results(),
                                     nobody_results = nobody.pod_results();
    Result creator_result, nobody_result;
    creator.stop(creator_result);
    nobody.stop(nobody_result);
    INFO("create-only agent's stderr: " << creator_result.err);
    INFO("agent without rights' stderr: " << nobody_result.err);
    CHECK(creator_result.status == 0);
    CHECK(nobody_result.status == 0);
    CHECK(creator_results == std::map<std::string, int>{{"created", 1}, {"failed", 1}, {"fallback", 2}});
    CHECK(nobody_results == std::map<std::string, int>{{"failed", 4}});

    // Create-only: said once, with the server's own words.
    const auto fallback = lines_with(creator_result.err, "PATCH refused");
    show("create-only agent", creator_result.err);
    REQUIRE(fallback.size() == 1);
    CHECK(fallback[0].find(
              "User \"system:serviceaccount:initwatch-test:creator\" cannot patch resource \"events\" "
              "in API group \"events.k8s.io\" in the namespace \"payments\"") != std::string::npos);
    const auto absent = lines_with(creator_result.err, "refused: HTTP 404 NotFound");
    REQUIRE(absent.size() == 1);
    CHECK(absent[0].find(": namespaces \"initwatch-absent\" not found") != std::string::npos);
    // Without rights: four 403s, one line (the kind of refusal logged once per 10 minutes),
    // the message decoded once: its quotes plain, no backslash.
    show("agent without rights", nobody_result.err);
    const auto forbidden = lines_with(nobody_result.err, "refused");
    REQUIRE(forbidden.size() == 1);
    CHECK(forbidden[0].find("creating an Event in namespace \"payments\" refused: HTTP 403 Forbidden: "
                            "events.events.k8s.io is "
                            "forbidden: User \"system:serviceaccount:initwatch-test:nobody\" cannot create "
                            "resource \"events\" "
                            "in API group \"events.k8s.io\" in the namespace \"payments\"") !=
          std::string::npos);
    CHECK(forbidden[0].find('\\') == std::string::npos);

    // Three Events: the first, then one per repeat with the count in the note and the series.
    std::vector<json> events = initwatch_events(kube, "payments");
    INFO("Events: " << json(events).dump());
    REQUIRE(events.size() == 3);
    std::sort(events.begin(), events.end(),
              [](const json& a, const json& b) { return series_count(a) < series_count(b); });
    for (int n = 0; n < 3; ++n) {
        CHECK(series_count(events[n]) == n + 1);
        CHECK(events[n]["regarding"]["uid"] == pod.uid);
        const std::string note = events[n]["note"];
        CHECK(note.size() <= 1024);
        CHECK((n == 0) == (note.find(" (x") == std::string::npos));
        if (n) CHECK(note.find(" (x" + std::to_string(n + 1) + " over ") != std::string::npos);
        CHECK(events[n]["eventTime"] == events[0]["eventTime"]);
    }
    const CmdResult describe = kube.kubectl({"-n", "payments", "describe", "pod", pod.name});
    show("kubectl 1.20 describe pod (Events)", describe_events(describe));
    CHECK(lines_with(describe_events(describe), "InitExitedLeavingProcesses").size() == 3);
    CHECK(lines_with(describe_events(describe), "(x3 over ").size() == 1);
}

TEST_CASE("kubernetes events, stand-in: a write refused with 429 and 500 is retried", "[container][runc]") {
    require_root();
    require_programs({"runc", "busybox"});
    StandIn api;
    KubeletLogs logs;
    const PodRef pod{"api-58d4c7f9b6-q9wzt", "payments", random_pod_uid()};
    api.script({"429", "500"});  // the first write is refused twice, then accepted
    EventsWatch watch(api.kubeconfig(), logs.host_root());
    PodContainerRun run(logs, pod, "app", container_asset("server-backgrounded.sh"), 0);
    run.run(watch);
    REQUIRE(watch.wait_for_results(1, 20));
    CHECK(watch.pod_results() == std::map<std::string, int>{{"created", 1}});
    Result result;
    watch.stop(result);
    INFO("initwatch stderr: " << result.err);
    CHECK(result.status == 0);
    CHECK(count_of(result.err, "refused") == 0);  // retried, not refused

    const std::vector<json> requests = api.requests();
    INFO("requests: " << json(requests).dump());
    REQUIRE(requests.size() == 3);  // 429 (Retry-After: 1), 500, then 201: one Event
    CHECK(requests[0]["status"] == 429);
    CHECK(requests[1]["status"] == 500);
    REQUIRE(requests[2]["status"] == 201);
    for (const auto& r : requests) CHECK(r["method"] == "POST");
    const json event = json::parse(requests[2]["body"].get<std::string>());
    CHECK(event["regarding"]["uid"] == pod.uid);
    CHECK(!event.contains("series"));
}

TEST_CASE("kubernetes events, stand-in: a hanging API server blocks neither findings nor the stop",
          "[container][runc]") {
    require_root();
    require_programs({"runc", "busybox"});
    StandIn api;
    KubeletLogs logs;
    api.script({"hang", "hang", "hang", "hang", "hang", "hang"});
    EventsWatch watch(api.kubeconfig(), logs.host_root());
    for (int n = 0; n < 3; ++n) {
        const PodRef pod{"web-" + random_hex(6), "shop", random_pod_uid()};
        const std::string id = random_container_id();
        const std::string cgroup = kubepods_cgroupfs_path("besteffort", pod.uid, id);
        RuncContainer c({id, cgroup, container_asset("server-backgrounded.sh"), {"/startup.sh"}, ""});
        logs.add_container(pod, "web", id);
        c.start();
        REQUIRE(c.wait_for_status("stopped", 10));
        const auto stopped = Clock::now();
        // Printed as fast as without Events: the sink's queue takes it, the loop goes on.
        REQUIRE(watch.wait_for_finding(cgroup, 5));
        CHECK(std::chrono::duration<double>(Clock::now() - stopped).count() < 2.0);
    }
    Result result;
    const double took = watch.stop(result);
    INFO("initwatch stderr: " << result.err);
    CHECK(result.status == 0);
    CHECK(took < 6.0);                         // the queue's close deadline, not the hung request
    CHECK(!api.requests("received").empty());  // it did try
    CHECK(api.requests().empty());             // and no answer came
}

TEST_CASE("kubernetes events, stand-in: it answers as the real API server does (tests/standin/compare.py)",
          "[kube]") {
    require_root();
    require_programs({"openssl"});
    KubeCluster kube;
    kube.create_namespace("initwatch-compare");
    StandIn api("default,initwatch-compare");
    const std::string admin = read_file(kube.admin_kubeconfig());
    const auto field = [](const std::string& text, const std::string& key) {
        const size_t at = text.find(key + ": ");
        REQUIRE(at != std::string::npos);
        return text.substr(at + key.size() + 2, text.find('\n', at) - at - key.size() - 2);
    };
    const std::string standin = read_file(api.kubeconfig());
    const std::string standin_dir = api.kubeconfig().substr(0, api.kubeconfig().rfind('/'));
    const CmdResult compared =
        run_cmd({kPython, std::string(STANDIN_DIR) + "/compare.py", field(admin, "server"),
                 field(admin, "certificate-authority"), field(admin, "token"), field(standin, "server"),
                 standin_dir + "/ca.crt", field(standin, "token"), "initwatch-compare"},
                patience(120));
    show("tests/standin/compare.py", compared.output);
    CHECK(compared.status == 0);
}

namespace {

// The lines a container wrote to its kubelet log file (CRI format: time, stream, tag, text):
// their text, each with its stream ("stdout"/"stderr").
std::vector<std::pair<std::string, std::string>> cri_log_lines(const std::string& file) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& line : split_lines(read_file(file))) {
        const size_t stream = line.find(' '), tag = line.find(' ', stream + 1),
                     text = line.find(' ', tag + 1);
        if (text == std::string::npos) continue;
        out.emplace_back(line.substr(stream + 1, tag - stream - 1), line.substr(text + 1));
    }
    return out;
}

// `kubectl describe` aligns its columns with spaces, as wide as the section's longest key:
// each run of spaces as one, to find "Reason: CrashLoopBackOff" whatever the alignment.
std::string single_spaced(const std::string& text) {
    std::string out;
    for (const char c : text)
        if (c != ' ' || out.empty() || out.back() != ' ') out += c;
    return out;
}

// The Dockerfile's ENTRYPOINT line's JSON array.
std::string dockerfile_entrypoint() {
    for (const auto& line : split_lines(read_file(std::string(TOP_DIR) + "/Dockerfile")))
        if (line.rfind("ENTRYPOINT [", 0) == 0) return line.substr(std::string("ENTRYPOINT ").size());
    FAIL("no ENTRYPOINT in the Dockerfile");
    return "";
}

// initwatch's image as the Dockerfile's final stage has it, without a base image (none can be
// pulled here): the binary and the shared libraries it links (ldd), nothing else.
void make_initwatch_rootfs(const std::string& dir) {
    for (const char* sub : {"/usr/sbin", "/dev", "/proc", "/sys", "/tmp", "/etc", "/host"})
        REQUIRE(run_cmd({"mkdir", "-p", dir + sub}).status == 0);
    REQUIRE(run_cmd({"objcopy", "--strip-debug", INITWATCH_BIN, dir + "/usr/sbin/initwatch"}).status == 0);
    const CmdResult ldd = run_cmd({"ldd", INITWATCH_BIN});
    REQUIRE(ldd.status == 0);
    size_t libraries = 0;
    for (const auto& line : split_lines(ldd.output)) {
        const size_t at = line.find('/');
        if (at == std::string::npos) continue;  // linux-vdso
        const std::string library = line.substr(at, line.find(' ', at) - at);
        REQUIRE(run_cmd({"mkdir", "-p", dir + library.substr(0, library.rfind('/'))}).status == 0);
        REQUIRE(run_cmd({"cp", "-L", library, dir + library}).status == 0);
        ++libraries;
    }
    REQUIRE(libraries > 10);
    write_file(dir + "/etc/passwd", "root:x:0:0:root:/:/usr/sbin/nologin\n");
}

// The story's image: busybox with the story's script as its entrypoint, and a nohup (Debian's
// busybox has none) that ignores SIGHUP as nohup does.
void make_story_rootfs(const std::string& dir) {
    make_busybox_rootfs(dir, read_file(std::string(TOP_DIR) + "/examples/story/2-server-backgrounded.sh"));
    write_file(dir + "/bin/nohup", "#!/bin/sh\ntrap '' HUP\nexec \"$@\"\n", 0755);
}

}  // namespace

TEST_CASE(
    "kubernetes, a real node: the story's image crash-loops under kubelet, initwatch runs from its own image "
    "as "
    "the DaemonSet of deploy/kubernetes with the termination-message component, and describe pod shows "
    "CrashLoopBackOff, the Warning Event and the Last State's message",
    "[container][kube][kubenode]") {
    require_root();
    require_programs({"busybox", "ldd", "objcopy"});
    const std::string kustomize = kustomize_path();
    if (kustomize.empty()) {
        const char* ci = std::getenv("CI");
        if (ci && std::string(ci) == "true")
            FAIL("no kustomize for the termination-message component (tools/setup --test)");
        std::fprintf(stderr, "skipped: no kustomize (tools/setup --test puts it in the cache)\n");
        std::exit(77);
    }
    // Bounds of their own, not scaled by the machine's slowdown: ctest gives the whole test 900 s.
    const auto started = Clock::now();
    const auto seconds = [&started] { return std::chrono::duration<double>(Clock::now() - started).count(); };
    const auto within = [](double timeout_s, const std::function<bool()>& done) {
        const auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
        while (!done()) {
            if (Clock::now() > until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        return true;
    };
    const auto step = [&seconds](const char* what) {
        std::fprintf(stderr, "--- %.0f s: %s\n", seconds(), what);
    };
    KubeCluster kube;
    REQUIRE(kube.node_up() == "initwatch-node");
    const double node_ready = seconds();

    const std::string story = kube.dir() + "/story-rootfs", agent = kube.dir() + "/initwatch-rootfs";
    make_story_rootfs(story);
    kube.node_image("initwatch.local/story:1", story, R"(["/startup.sh"])");
    make_initwatch_rootfs(agent);
    kube.node_image("initwatch.local/initwatch:test", agent, dockerfile_entrypoint());

    // deploy/kubernetes and its termination-message component, as an overlay of the README
    // makes them: the image, and kubelet's root (this node's --root-dir) where the component
    // says to change it. Pod spec, securityContext, capabilities, seccomp, probes: as shipped.
    const std::string kubelet_root = kube.dir() + "/node/kubelet";
    const std::string overlay = kube.dir() + "/overlay";
    REQUIRE(run_cmd({"mkdir", "-p", overlay}).status == 0);
    const std::string base =
        std::filesystem::relative(std::string(TOP_DIR) + "/deploy/kubernetes", overlay).string();
    write_file(
        overlay + "/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [" +
            base +
            "]\n"
            "components: [" +
            base +
            "/components/termination-message]\n"
            "images: [{name: initwatch, newName: initwatch.local/initwatch, newTag: test}]\n"
            "patches:\n"
            "  - target: {group: apps, version: v1, kind: DaemonSet, name: initwatch}\n"
            "    patch: |-\n"
            "      - {op: test, path: /spec/template/spec/volumes/3/name, value: kubelet-pods}\n"
            "      - {op: replace, path: /spec/template/spec/volumes/3/hostPath/path, value: " +
            kubelet_root +
            "/pods}\n"
            "      - {op: test, path: /spec/template/spec/containers/0/volumeMounts/3/name, value: "
            "kubelet-pods}\n"
            "      - {op: replace, path: /spec/template/spec/containers/0/volumeMounts/3/mountPath, value: "
            "/host" +
            kubelet_root +
            "/pods}\n"
            "      - {op: add, path: /spec/template/spec/containers/0/args/-, value: --kubelet-root-dir=" +
            kubelet_root + "}\n");
    const CmdResult rendered = run_cmd({kustomize, "build", overlay}, patience(60));
    INFO("kustomize build: " << rendered.output);
    REQUIRE(rendered.status == 0);
    kube.apply(rendered.output);

    // The DaemonSet's pod: kube-controller-manager makes it, kube-scheduler would bind it.
    std::vector<std::string> bound;
    step("node up, images imported, the DaemonSet applied");
    REQUIRE(within(60, [&] {
        bound = kube.node_bind("initwatch");
        return !bound.empty();
    }));
    REQUIRE(bound.size() == 1);
    const std::string agent_pod = bound[0];
    const CmdResult ready = kube.kubectl(
        {"-n", "initwatch", "wait", "--for=condition=Ready", "pod/" + agent_pod, "--timeout=120s"}, "", 150);
    INFO("initwatch's pod: " << kube.kubectl({"-n", "initwatch", "describe", "pod", agent_pod}).output);
    REQUIRE(ready.status == 0);
    const double agent_ready = seconds();
    // As shipped: no privilege but CAP_BPF and CAP_PERFMON, RuntimeDefault seccomp, read-only.
    const CmdResult spec = kube.kubectl({"-n", "initwatch", "get", "pod", agent_pod, "-o", "json"});
    REQUIRE(spec.status == 0);
    const json pod_spec = json::parse(spec.output)["spec"];
    CHECK(pod_spec["hostPID"] == true);
    const json security = pod_spec["containers"][0]["securityContext"];
    CHECK(security["capabilities"] == json{{"add", {"BPF", "PERFMON"}}, {"drop", {"ALL"}}});
    CHECK(security["seccompProfile"] == json{{"type", "RuntimeDefault"}});
    CHECK(security["readOnlyRootFilesystem"] == true);
    CHECK(security["allowPrivilegeEscalation"] == false);
    CHECK(security["privileged"] == false);
    CHECK(pod_spec["containers"][0]["image"] == "initwatch.local/initwatch:test");

    // The story's pod, restartPolicy Always: its init exits 0 leaving its server behind.
    kube.apply(json{{"apiVersion", "v1"},
                    {"kind", "Pod"},
                    {"metadata", {{"name", "story"}, {"namespace", "default"}}},
                    {"spec",
                     {{"nodeName", "initwatch-node"},
                      {"restartPolicy", "Always"},
                      {"containers", {{{"name", "app"}, {"image", "initwatch.local/story:1"}}}}}}}
                   .dump());
    const std::string message =
        "Message: initwatch: init `/bin/sh /startup.sh` ended (exit 0) leaving 1 process: "
        "`sleep 3600` (background, nohup).";
    CmdResult describe;
    step("initwatch Ready; the story's pod applied");
    const bool crash_looping = within(240, [&] {
        describe = kube.kubectl({"describe", "pod", "story"});
        const std::string d = single_spaced(describe.output);
        const size_t last = d.find("Last State:");
        return d.find("Reason: CrashLoopBackOff") != std::string::npos && last != std::string::npos &&
               d.find(message, last) != std::string::npos &&
               lines_with(describe_events(describe), "InitExitedLeavingProcesses").size() == 1;
    });
    show("kubectl 1.20 describe pod story", describe.output);
    REQUIRE(crash_looping);
    const double looping = seconds();
    const std::string described = single_spaced(describe.output);
    const auto last_state = described.substr(described.find("Last State:"));
    CHECK(last_state.find("Reason: Completed") != std::string::npos);
    CHECK(last_state.find("Exit Code: 0") != std::string::npos);
    const auto rows = lines_with(describe_events(describe), "InitExitedLeavingProcesses");
    CHECK(rows[0].find("Warning") != std::string::npos);
    CHECK(rows[0].find(kController) != std::string::npos);
    if (const std::string kubectl = newer_kubectl(); !kubectl.empty()) {
        const CmdResult newer = kube.kubectl_with(kubectl, {"describe", "pod", "story"});
        show(kubectl + " describe pod story (Events)", describe_events(newer));
        const auto counted = lines_with(describe_events(newer), "InitExitedLeavingProcesses");
        REQUIRE(counted.size() == 1);
        CHECK(counted[0].find(" (x") != std::string::npos);
    }

    // What the agent printed (kubelet's log of its container): every finding about the story's
    // pod names its cgroup and its pod; no refusal from the API server.
    const CmdResult uid =
        kube.kubectl({"-n", "initwatch", "get", "pod", agent_pod, "-o", "jsonpath={.metadata.uid}"});
    REQUIRE(uid.status == 0);
    const std::string log_file =
        "/var/log/pods/initwatch_" + agent_pod + "_" + uid.output + "/initwatch/0.log";
    size_t findings = 0;
    std::string stderr_text;
    for (const auto& [stream, text] : cri_log_lines(log_file)) {
        if (stream == "stderr") {
            stderr_text += text + "\n";
            continue;
        }
        const json line = json::parse(text, nullptr, false);
        if (!line.is_object() || line.value("type", "") != "init_exit") continue;
        INFO("finding: " << text);
        const json& container = line["container"];
        CHECK(container["cgroup_path"].is_string());
        CHECK(line["pod"].is_object());
        if (line["pod"].is_object() && line["pod"].value("name", "") == "story") ++findings;
    }
    show("initwatch's stderr (its pod's log)", stderr_text);
    CHECK(findings >= 2);
    CHECK(count_of(stderr_text, "refused") == 0);
    std::fprintf(stderr,
                 "--- timings: node ready %.0f s, initwatch Ready %.0f s, crash loop described %.0f s\n",
                 node_ready, agent_ready, looping);
}
