// `initwatch watch` against real container runtimes: runc with the Kubernetes cgroup layouts
// (cgroupfs and systemd) and a fake kubelet log layout, containerd through ctr, restarts,
// a healthy container stopped with SIGKILL, and a pod sharing one PID namespace.
// Fixtures: runtimes.h. Each test starts `watch` first, waits for its probes, then starts
// containers, and checks the findings about its own cgroups field by field.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "harness.h"
#include "runtimes.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

const std::string kNode = "initwatch-test-node";
const std::vector<std::string> kRunc{"runc", "busybox"};
const std::vector<std::string> kContainerd{"containerd", "ctr", "containerd-shim-runc-v2", "runc", "busybox"};

bool watch_has_flag(const std::string& flag) {
    static const std::string help = [] {
        const Result r = run_raw({"watch", "--help"}, 10);
        return r.out + r.err;
    }();
    return help.find(flag) != std::string::npos;
}

std::string cgroup_path_of(const json& finding) {
    const auto c = finding.find("container");
    if (c == finding.end() || !c->is_object()) return "";
    const auto p = c->find("cgroup_path");
    return p != c->end() && p->is_string() ? p->get<std::string>() : "";
}

// The process has exited (a zombie until the harness reaps it) or is gone.
bool exited(pid_t pid) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
}

// Findings about other cgroups that --count tolerates: other tests may run containers or
// namespaces on this host at the same time (parallel sessions do here), and an exact --count
// would then end watch before the findings of this test.
constexpr int kForeignFindings = 20;

// `initwatch watch --json --output F --count N --duration 60 --log-level info` in the
// background, --node-name and --host-root added; returns once its probes are attached.
// N is `expected` plus kForeignFindings: findings_for stops watch (SIGINT) as soon as the
// findings about the test's own containers are in.
class Watch {
public:
    Watch(int expected, const std::string& host_root = "") : output_(temp_path("containers.json")) {
        std::vector<std::string> args{"watch",      "--json",  "--output",
                                      output_,      "--count", std::to_string(expected + kForeignFindings),
                                      "--duration", "60",      "--log-level",
                                      "info"};
        add_flag(args, "--node-name", kNode);
        if (!host_root.empty()) add_flag(args, "--host-root", host_root);
        bg_ = std::make_unique<Background>(args, output_);
        REQUIRE(bg_->wait_for_output("probes attached", 30));
    }

    // Waits until the findings about `cgroups` number n (or timeout_s passes), stops watch if
    // it still runs, and returns those findings in output order.
    std::vector<json> findings_for(const std::vector<std::string>& cgroups, size_t n, double timeout_s = 15) {
        auto mine = [&](const json& l) {
            if (l.value("type", "") != "init_exit") return false;
            const std::string path = cgroup_path_of(l);
            return std::find(cgroups.begin(), cgroups.end(), path) != cgroups.end();
        };
        const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
        while (std::chrono::steady_clock::now() < until) {
            size_t count = 0;
            const std::string text = read_file(output_);
            const std::string complete =
                text.substr(0, text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
            for (const auto& l : parse_json_lines(complete)) count += mine(l);
            if (count >= n || exited(bg_->pid())) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        kill(bg_->pid(), SIGINT);  // no effect once --count ended it
        finished_ = true;
        result_ = bg_->finish(10);
        INFO("initwatch stderr: " << result_.err);
        CHECK(result_.status == 0);
        std::vector<json> out, others;
        for (const auto& l : result_.lines) (mine(l) ? out : others).push_back(l);
        for (const auto& o : others)
            if (o.value("type", "") == "init_exit") WARN("a finding about another cgroup: " << o.dump());
        CHECK(missing_flags_.empty());  // flags of the pending schema, dropped until initwatch has them
        return out;
    }

    // After findings_for: every finding watch reported about `cgroup`.
    std::vector<json> findings_about(const std::string& cgroup) const {
        std::vector<json> out;
        for (const auto& l : result_.lines)
            if (l.value("type", "") == "init_exit" && cgroup_path_of(l) == cgroup) out.push_back(l);
        return out;
    }

    // A test that failed before findings_for: stop initwatch and collect (which removes the
    // harness's temp files) rather than leave them.
    ~Watch() {
        if (finished_ || !bg_ || bg_->pid() <= 0) return;
        kill(bg_->pid(), SIGKILL);
        try {
            bg_->finish(10);
        } catch (...) {
        }
    }

private:
    void add_flag(std::vector<std::string>& args, const std::string& flag, const std::string& value) {
        if (watch_has_flag(flag)) {
            args.insert(args.end(), {flag, value});
        } else {
            WARN("initwatch watch has no " << flag << " yet: run without it");
            missing_flags_ += " " + flag;
        }
    }

    std::string output_;
    std::unique_ptr<Background> bg_;
    Result result_;
    bool finished_ = false;
    std::string missing_flags_;
};

std::string dump_all(const std::vector<json>& lines) {
    std::string out = std::to_string(lines.size()) + " finding(s) about these containers:";
    for (const auto& l : lines) out += "\n" + l.dump();
    return out;
}

#define REQUIRE_FINDINGS(findings, n)      \
    do {                                   \
        INFO(dump_all(findings));          \
        REQUIRE((findings).size() == (n)); \
    } while (0)

const json& only_live(const json& f) {
    const json& live = f.at("live");
    REQUIRE(live.is_array());
    REQUIRE(live.size() == 1);
    return live[0];
}

// server-backgrounded.sh as a container's init: exit 0 leaving `sleep 3600`, started in the
// background with SIGHUP ignored.
void check_server_left_behind(const json& f, const std::string& cgroup_path, uint64_t cgroup_id) {
    CHECK(field(f, "type") == "init_exit");
    CHECK(field(f, "severity") == "warning");
    CHECK(field(f, "scope") == "pidns");
    CHECK(field(f, "node") == kNode);
    CHECK(field(field(f, "container"), "cgroup_path") == cgroup_path);
    if (cgroup_id) CHECK(field(field(f, "container"), "cgroup_id") == cgroup_id);
    const json init = field(f, "init");
    CHECK(field(init, "ns_pid") == 1);
    CHECK(field(init, "argv") == json::array({"/bin/sh", "/startup.sh"}));
    CHECK(field(init, "exit_code") == 0);
    CHECK(field(init, "signal").is_null());
    CHECK(field(f, "live_count") == 1);
    const json server = only_live(f);
    CHECK(field(server, "argv") == json::array({"sleep", "3600"}));
    CHECK(field(server, "how") == "background");
    CHECK(field(server, "sighup_ignored") == true);
    CHECK(field(server, "ppid") == field(init, "pid"));
}

void check_kubernetes(const json& f, const PodRef& pod, const std::string& container, const std::string& id) {
    const json c = field(f, "container");
    CHECK(field(c, "id") == id);
    CHECK(field(c, "runtime") == "containerd");  // a bare 64-hex id under kubepods: containerd (CRI)
    CHECK(field(c, "name") == container);
    const json p = field(f, "pod");
    CHECK(field(p, "name") == pod.name);
    CHECK(field(p, "namespace") == pod.ns);
    CHECK(field(p, "uid") == pod.uid);
}

void check_first_occurrence(const json& f) {
    CHECK(field(field(f, "repeat"), "count") == 1);
    CHECK(field(field(f, "repeat"), "since_first_ms").is_null());
}

// Tests 1 and 2: one pod, one container, kubelet's logs, a Kubernetes cgroup path.
void kubernetes_case(const std::function<std::string(const std::string&, const std::string&)>& cgroup_path) {
    require_programs(kRunc);
    KubeletLogs logs;
    const PodRef pod{"web-6f7c9d8b5-x2kqp", "shop", random_pod_uid()};
    const std::string id = random_container_id();
    logs.add_container(pod, "server", id);
    RuncContainer c(
        {id, cgroup_path(pod.uid, id), container_asset("server-backgrounded.sh"), {"/startup.sh"}, ""});

    Watch watch(1, logs.host_root());
    c.start();
    const auto findings = watch.findings_for({c.cgroup_path()}, 1);
    REQUIRE_FINDINGS(findings, 1);
    const json& f = findings[0];
    INFO("finding: " << f.dump());
    check_server_left_behind(f, c.cgroup_path(), c.cgroup_id());
    check_kubernetes(f, pod, "server", id);
    check_first_occurrence(f);
}

// Test 3: ctr run in namespace `ns` of a private containerd.
void containerd_case(const std::string& ns) {
    require_programs(kContainerd);
    Containerd containerd;
    const std::string id = random_container_id(), cgroup = "/" + ns + "/" + id;

    Watch watch(1);
    const int pid = containerd.run(ns, id, container_asset("server-backgrounded.sh"));
    const uint64_t cgroup_id = cgroup2_id(cgroup);
    // The runtime's side, as the finding should see it: the shim is the init's parent.
    pid_t ppid = 0;
    {
        const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        const size_t paren = stat.rfind(')');
        if (paren != std::string::npos) ppid = std::stoi(stat.substr(paren + 4));
    }
    CHECK(read_file("/proc/" + std::to_string(ppid) + "/comm").rfind("containerd-shim", 0) == 0);

    const auto findings = watch.findings_for({cgroup}, 1);
    REQUIRE_FINDINGS(findings, 1);
    const json& f = findings[0];
    INFO("finding: " << f.dump());
    check_server_left_behind(f, cgroup, cgroup_id);
    const json c = field(f, "container");
    CHECK(field(c, "id") == id);
    CHECK(field(c, "runtime") == "containerd");
    CHECK(field(c, "name").is_null());  // a name comes only from kubelet's logs
    CHECK(field(f, "pod").is_null());
    check_first_occurrence(f);
    CHECK(containerd.wait_for_task_status(ns, id, "STOPPED", 5));
}

}  // namespace

TEST_CASE("containers: runc in the kubepods cgroupfs layout: pod and container named from kubelet logs") {
    kubernetes_case([](const std::string& uid, const std::string& id) {
        return kubepods_cgroupfs_path("burstable", uid, id);  // /kubepods/burstable/pod<uid>/<id>
    });
}

TEST_CASE("containers: runc in the kubepods systemd layout (cri-containerd-<id>.scope): the same names") {
    kubernetes_case([](const std::string& uid, const std::string& id) {
        return kubepods_systemd_path("burstable", uid, id);  // .../kubepods-burstable-pod<uid_>.slice/cri-...
    });
}

TEST_CASE("containers: containerd via ctr in namespace default: container id and runtime containerd") {
    containerd_case("default");
}

TEST_CASE("containers: a container restarted three times by kubelet: the third finding repeats 3") {
    require_programs(kRunc);
    KubeletLogs logs;
    const PodRef pod{"api-58d4c7f9b6-q9wzt", "payments", random_pod_uid()};
    std::vector<std::string> ids, cgroups;
    std::vector<std::unique_ptr<RuncContainer>> restarts;
    for (int attempt = 0; attempt < 3; ++attempt) {  // a new container id each time, as kubelet does
        ids.push_back(random_container_id());
        cgroups.push_back(kubepods_cgroupfs_path("burstable", pod.uid, ids.back()));
        restarts.push_back(std::make_unique<RuncContainer>(RuncOptions{
            ids.back(), cgroups.back(), container_asset("server-backgrounded.sh"), {"/startup.sh"}, ""}));
    }

    Watch watch(3, logs.host_root());
    const auto start = std::chrono::steady_clock::now();
    for (int attempt = 0; attempt < 3; ++attempt) {
        logs.add_container(pod, "app", ids[attempt], attempt);  // kubelet: <restart count>.log
        restarts[attempt]->start();
        REQUIRE(restarts[attempt]->wait_for_status("stopped", 10));  // the next attempt after the exit
    }
    const auto elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
            .count();

    const auto findings = watch.findings_for(cgroups, 3);
    REQUIRE_FINDINGS(findings, 3);
    for (int attempt = 0; attempt < 3; ++attempt) {
        INFO("attempt " << attempt);
        const json& f = findings[attempt];
        INFO("finding: " << f.dump());
        check_server_left_behind(f, cgroups[attempt], restarts[attempt]->cgroup_id());
        check_kubernetes(f, pod, "app", ids[attempt]);
        CHECK(field(field(f, "repeat"), "count") == attempt + 1);
    }
    CHECK(field(field(findings[0], "repeat"), "since_first_ms").is_null());
    const json since = field(field(findings[2], "repeat"), "since_first_ms");
    REQUIRE(since.is_number());
    CHECK(since.get<int64_t>() > 0);
    CHECK(since.get<int64_t>() <= elapsed_ms);
}

TEST_CASE("containers: a healthy container (server exec'd) stopped with runc kill KILL is info") {
    require_programs(kRunc);
    const std::string uid = random_pod_uid(), id = random_container_id();
    RuncContainer c({id,
                     kubepods_cgroupfs_path("besteffort", uid, id),
                     container_asset("healthy-server.sh"),
                     {"/startup.sh"},
                     ""});

    Watch watch(1);
    c.start();
    REQUIRE(c.wait_for_init_argv({"sleep", "3600"}, 5));  // the server is init now
    REQUIRE(c.wait_for_process_count(2, 5));              // and the helper runs
    REQUIRE(c.kill("KILL") == 0);

    const auto findings = watch.findings_for({c.cgroup_path()}, 1);
    REQUIRE_FINDINGS(findings, 1);
    const json& f = findings[0];
    INFO("finding: " << f.dump());
    CHECK(field(f, "severity") == "info");  // a stop, never a warning
    CHECK(field(f, "scope") == "pidns");
    CHECK(field(field(f, "container"), "cgroup_path") == c.cgroup_path());
    CHECK(field(field(f, "container"), "cgroup_id") == c.cgroup_id());
    CHECK(field(field(f, "container"), "id") == id);
    CHECK(field(field(f, "pod"), "uid") == uid);  // from the cgroup path; no kubelet logs here
    const json init = field(f, "init");
    CHECK(field(init, "ns_pid") == 1);
    CHECK(field(init, "argv") == json::array({"sleep", "3600"}));
    CHECK(field(init, "exit_code").is_null());
    CHECK(field(init, "signal") == 9);
    const json helper = only_live(f);
    CHECK(field(helper, "argv") == json::array({"sleep", "86400"}));
    CHECK(field(helper, "how") == "background");
}

TEST_CASE("containers: a pod sharing the pause process's PID namespace: a cgroup-scope finding") {
    require_programs(kRunc);
    const std::string uid = random_pod_uid(), pause_id = random_container_id(),
                      app_id = random_container_id();
    RuncContainer pause(
        {pause_id, kubepods_cgroupfs_path("besteffort", uid, pause_id), "", {"/bin/sleep", "3600"}, ""});

    Watch watch(1);
    pause.start();
    REQUIRE(pause.wait_for_init_argv({"/bin/sleep", "3600"}, 5));
    // shareProcessNamespace: the app container joins the pause's PID namespace, in its own
    // cgroup; its main process is not PID 1 there.
    RuncContainer app({app_id,
                       kubepods_cgroupfs_path("besteffort", uid, app_id),
                       container_asset("server-backgrounded.sh"),
                       {"/startup.sh"},
                       "/proc/" + std::to_string(pause.init_pid()) + "/ns/pid"});
    app.start();
    REQUIRE(app.wait_for_status("stopped", 10));
    CHECK(pause.status() == "running");  // the child it left lives on, reparented to the pause

    const auto findings = watch.findings_for({app.cgroup_path()}, 1);
    const auto about_pause = watch.findings_about(pause.cgroup_path());
    {
        INFO(dump_all(about_pause));
        CHECK(about_pause.empty());  // the pause runs on: nothing to report about it
    }
    REQUIRE_FINDINGS(findings, 1);
    const json& f = findings[0];
    INFO("finding: " << f.dump());
    CHECK(field(f, "type") == "init_exit");
    CHECK(field(f, "scope") == "cgroup");
    CHECK(field(f, "severity") == "warning");
    CHECK(field(field(f, "container"), "cgroup_path") == app.cgroup_path());
    CHECK(field(field(f, "container"), "cgroup_id") == app.cgroup_id());
    CHECK(field(field(f, "container"), "id") == app_id);
    CHECK(field(field(f, "pod"), "uid") == uid);
    const json init = field(f, "init");
    CHECK(field(init, "argv") == json::array({"/bin/sh", "/startup.sh"}));
    CHECK(field(init, "ns_pid").is_number());
    CHECK(field(init, "ns_pid") > 1);
    CHECK(field(init, "exit_code") == 0);
    const json child = only_live(f);
    CHECK(field(child, "argv") == json::array({"sleep", "3600"}));
    CHECK(field(child, "how") == "background");
}
