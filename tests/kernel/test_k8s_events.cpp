// --kubernetes-events with real runc containers, against the stand-in API server of
// tests/standin/kube_apiserver.py (HTTPS with the test's own CA, the bearer token, the
// events.k8s.io/v1 validation rules of KUBERNETES.md; answers scripted per test).
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "harness.h"
#include "runtimes.h"

using namespace initwatch::ktest;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

void write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

// The stand-in, its CA, and a kubeconfig that points initwatch at it.
class ApiServer {
public:
    ApiServer() : dir_(temp_path("apiserver")) {
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
                                     "--control", control_},
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
    ~ApiServer() { run_cmd({"rm", "-rf", dir_}); }

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

// `initwatch watch` with Events on, in the background, named as a node of the cluster.
class EventsWatch {
public:
    EventsWatch(const ApiServer& api, const std::string& host_root) : output_(temp_path("events.json")) {
        std::vector<std::string> args{
            "watch",         "--json", "--output",    output_,  "--duration",          "90",
            "--log-level",   "info",   "--node-name", "node-7", "--kubernetes-events", "--kubeconfig",
            api.kubeconfig()};
        if (!host_root.empty()) args.insert(args.end(), {"--host-root", host_root});
        bg_ = std::make_unique<Background>(args, output_);
        REQUIRE(bg_->wait_for_output("probes attached", 30));
        REQUIRE(bg_->wait_for_output("snapshot:", 30));
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
        const std::string text = read_file(output_);
        for (const auto& l : parse_json_lines(text.substr(0, text.rfind('\n') + 1)))
            if (l.value("type", "") == "init_exit" && l.contains("container") &&
                l["container"].value("cgroup_path", "") == cgroup)
                out.push_back(l);
        return out;
    }
    bool wait_for_findings(const std::string& cgroup, size_t n, double timeout_s) const {
        const auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
        while (Clock::now() < until) {
            if (findings_about(cgroup).size() >= n) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
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
    bool finished_ = false;
};

template <typename Pred>
bool eventually(Pred pred, double timeout_s) {
    const auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (!pred()) {
        if (Clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

std::vector<json> with_method(const std::vector<json>& requests, const std::string& method) {
    std::vector<json> out;
    for (const auto& r : requests)
        if (r.value("method", "") == method) out.push_back(r);
    return out;
}

}  // namespace

TEST_CASE(
    "kubernetes events: a runc finding is a Warning Event on its pod with its uid, retried after 429 and "
    "500, "
    "and the third restart PATCHes the series",
    "[container][runc]") {
    require_root();
    require_programs({"runc"});
    ApiServer api;
    KubeletLogs logs;
    const PodRef pod{"api-58d4c7f9b6-q9wzt", "payments", random_pod_uid()};
    api.script({"429", "500"});  // the first write is refused twice, then accepted
    EventsWatch watch(api, logs.host_root());

    std::vector<std::string> cgroups;
    for (int attempt = 0; attempt < 3; ++attempt) {
        const std::string id = random_container_id();
        cgroups.push_back(kubepods_cgroupfs_path("burstable", pod.uid, id));
        RuncContainer c({id, cgroups.back(), container_asset("server-backgrounded.sh"), {"/startup.sh"}, ""});
        logs.add_container(pod, "app", id, attempt);
        c.start();
        REQUIRE(c.wait_for_status("stopped", 10));
        REQUIRE(watch.wait_for_findings(cgroups.back(), 1, 10));
        // Each write done before the next failure, as kubelet's restarts are seconds apart.
        const size_t writes = attempt + 1;
        REQUIRE(eventually(
            [&] {
                size_t ok = 0;
                for (const auto& r : api.requests())
                    ok += r.value("status", 0) == 201 || r.value("status", 0) == 200;
                return ok >= writes;
            },
            15));
    }
    Result result;
    watch.stop(result);
    INFO("initwatch stderr: " << result.err);
    CHECK(result.status == 0);

    const std::vector<json> requests = api.requests();
    INFO("requests: " << json(requests).dump());
    const std::vector<json> posts = with_method(requests, "POST"), patches = with_method(requests, "PATCH");
    REQUIRE(posts.size() == 3);  // 429, 500, then 201: one Event
    CHECK(posts[0]["status"] == 429);
    CHECK(posts[1]["status"] == 500);
    REQUIRE(posts[2]["status"] == 201);
    const json event = json::parse(posts[2]["body"].get<std::string>());
    CHECK(event["type"] == "Warning");
    CHECK(event["reason"] == "InitExitedLeavingProcesses");
    CHECK(event["reportingController"] == "initwatch.io/initwatch");
    CHECK(event["reportingInstance"] == "node-7");
    CHECK(event["regarding"] == json{{"apiVersion", "v1"},
                                     {"kind", "Pod"},
                                     {"namespace", pod.ns},
                                     {"name", pod.name},
                                     {"uid", pod.uid},
                                     {"fieldPath", "spec.containers{app}"}});
    const std::string note = event["note"];
    CHECK(note.size() <= 1024);
    CHECK(note.find("init `/bin/sh /startup.sh` ended (exit 0) leaving 1 process: `sleep 3600` (background, "
                    "nohup)") != std::string::npos);
    CHECK(note.find("ideally `exec sleep 3600`") != std::string::npos);
    CHECK(note.find(std::to_string(getpid())) == std::string::npos);

    // The same failure again: the series, as client-go's recorder does it.
    REQUIRE(patches.size() == 2);
    const std::string name = event["metadata"]["name"];
    for (size_t i = 0; i < patches.size(); ++i) {
        CHECK(patches[i]["status"] == 200);
        CHECK(patches[i]["path"] == "/apis/events.k8s.io/v1/namespaces/payments/events/" + name);
        CHECK(patches[i]["content_type"] == "application/merge-patch+json");
        CHECK(json::parse(patches[i]["body"].get<std::string>())["series"]["count"] == i + 2);
    }
}

TEST_CASE("kubernetes events: a finding without a pod makes no Event", "[container][runc]") {
    require_root();
    require_programs({"runc"});
    ApiServer api;
    EventsWatch watch(api, "");
    const std::string id = random_container_id();
    const std::string cgroup = "/initwatch-test-nopod-" + random_hex(8);
    RuncContainer c({id, cgroup, container_asset("server-backgrounded.sh"), {"/startup.sh"}, ""});
    c.start();
    REQUIRE(c.wait_for_status("stopped", 10));
    REQUIRE(watch.wait_for_findings(cgroup, 1, 10));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // time for a wrong write to show
    Result result;
    watch.stop(result);
    INFO("initwatch stderr: " << result.err);
    CHECK(api.requests("received").empty());
}

TEST_CASE("kubernetes events: a hanging API server blocks neither findings nor the stop",
          "[container][runc]") {
    require_root();
    require_programs({"runc"});
    ApiServer api;
    KubeletLogs logs;
    api.script({"hang", "hang", "hang", "hang", "hang", "hang"});
    EventsWatch watch(api, logs.host_root());
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
        REQUIRE(watch.wait_for_findings(cgroup, 1, 5));
        CHECK(std::chrono::duration<double>(Clock::now() - stopped).count() < 2.0);
    }
    Result result;
    const double took = watch.stop(result);
    INFO("initwatch stderr: " << result.err);
    CHECK(result.status == 0);
    CHECK(took < 6.0);  // the queue's close deadline, not the hung request
    CHECK(!with_method(api.requests("received"), "POST").empty());  // it did try
    CHECK(api.requests().empty());                                  // and no answer came
}
