// A pod cannot fool the agent about who it is: a container allowed to create cgroups (DinD, kind,
// sysbox, privileged pods) makes another pod's cgroup path below its own, while that pod's kubelet
// log links exist, and its findings must still name the container it really is.
// Fixtures: runtimes.h (runc with linux.cgroupsPath, a fake kubelet log layout under --host-root).
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <thread>

#include "harness.h"
#include "runtimes.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

const std::vector<std::string> kRunc{"runc", "busybox"};

// Findings about other cgroups that --count tolerates (other tests may run containers here).
constexpr int kForeignFindings = 20;

std::string field(const json& j, const std::string& object, const std::string& key) {
    const auto o = j.find(object);
    if (o == j.end() || !o->is_object()) return "";
    const auto v = o->find(key);
    return v != o->end() && v->is_string() ? v->get<std::string>() : "";
}

// `initwatch watch --json` with --host-root until the init_exit finding about `cgroup` is in.
json finding_about(const std::string& cgroup, const std::string& host_root, RuncContainer& container) {
    const std::string output = temp_path("identity.json");
    Background watch({"watch", "--json", "--output", output, "--count", std::to_string(1 + kForeignFindings),
                      "--duration", "60", "--log-level", "info", "--host-root", host_root},
                     output);
    REQUIRE(watch.wait_for_output("probes attached", 30));
    container.start();

    json found;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (found.is_null() && std::chrono::steady_clock::now() < until) {
        const std::string text = read_file(output);
        const size_t end = text.rfind('\n');
        for (const auto& l : parse_json_lines(end == std::string::npos ? "" : text.substr(0, end + 1)))
            if (l.value("type", "") == "init_exit" && field(l, "container", "cgroup_path") == cgroup)
                found = l;
        if (found.is_null()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(watch.pid(), SIGINT);
    const Result r = watch.finish(10);
    INFO("initwatch stderr: " << r.err);
    CHECK(r.status == 0);
    REQUIRE_FALSE(found.is_null());
    return found;
}

// The identity fields: every one of the container's but its cgroup path (the truth of where the
// processes are, which the attacker chose), and the pod's.
std::string identity_text(const json& f) {
    json c = f.value("container", json::object());
    if (c.is_object()) c.erase("cgroup_path");
    return c.dump() + " " + f.value("pod", json()).dump();
}

void check_names_nothing_of(const json& f, const PodRef& victim, const std::string& victim_container,
                            const std::string& victim_id) {
    const std::string identity = identity_text(f);
    INFO("identity fields: " << identity);
    for (const std::string& s : {victim.uid, victim.name, victim.ns, victim_container, victim_id})
        CHECK(identity.find(s) == std::string::npos);
}

// An attacker pod's container whose cgroup holds a copy of the victim pod's path.
void attacker_pod_case(const std::string& attacker_cgroup, const std::string& victim_cgroup,
                       const std::string& attacker_id, const PodRef& attacker, const PodRef& victim,
                       const std::string& victim_id) {
    KubeletLogs logs;
    logs.add_container(attacker, "dind", attacker_id);
    logs.add_container(victim, "app", victim_id);
    const std::string nested = attacker_cgroup + victim_cgroup;
    RuncContainer c(
        {random_container_id(), nested, container_asset("server-backgrounded.sh"), {"/startup.sh"}, ""});

    const json f = finding_about(nested, logs.host_root(), c);
    INFO("finding: " << f.dump());
    CHECK(field(f, "container", "id") == attacker_id);
    CHECK(field(f, "container", "runtime") == "containerd");
    CHECK(field(f, "container", "name") == "dind");
    CHECK(field(f, "pod", "uid") == attacker.uid);
    CHECK(field(f, "pod", "name") == attacker.name);
    CHECK(field(f, "pod", "namespace") == attacker.ns);
    check_names_nothing_of(f, victim, "app", victim_id);
}

}  // namespace

TEST_CASE("identity: a pod nesting a victim pod's cgroupfs path below its own cgroup is named as itself") {
    require_root();
    require_programs(kRunc);
    const PodRef attacker{"dind-runner-0", "ci", random_pod_uid()},
        victim{"api-58d4c7f9b6-q9wzt", "payments", random_pod_uid()};
    const std::string attacker_id = random_container_id(), victim_id = random_container_id();
    attacker_pod_case(kubepods_cgroupfs_path("besteffort", attacker.uid, attacker_id),
                      kubepods_cgroupfs_path("burstable", victim.uid, victim_id), attacker_id, attacker,
                      victim, victim_id);
}

TEST_CASE("identity: a systemd-layout pod nesting a victim pod's systemd path is named as itself") {
    require_root();
    require_programs(kRunc);
    const PodRef attacker{"sysbox-builder-7", "ci", random_pod_uid()},
        victim{"web-6f7c9d8b5-x2kqp", "shop", random_pod_uid()};
    const std::string attacker_id = random_container_id(), victim_id = random_container_id();
    attacker_pod_case(kubepods_systemd_path("besteffort", attacker.uid, attacker_id),
                      kubepods_systemd_path("burstable", victim.uid, victim_id), attacker_id, attacker,
                      victim, victim_id);
}

TEST_CASE("identity: a victim pod's path below a cgroup that is no container names no container or pod") {
    require_root();
    require_programs(kRunc);
    KubeletLogs logs;
    const PodRef victim{"api-58d4c7f9b6-q9wzt", "payments", random_pod_uid()};
    const std::string victim_id = random_container_id();
    logs.add_container(victim, "app", victim_id);
    // A custom runc cgroupsPath: not a layout any runtime names.
    const std::string nested = "/initwatch-ktest-forge-" + random_hex(8) +
                               kubepods_cgroupfs_path("burstable", victim.uid, victim_id);
    RuncContainer c(
        {random_container_id(), nested, container_asset("server-backgrounded.sh"), {"/startup.sh"}, ""});

    const json f = finding_about(nested, logs.host_root(), c);
    INFO("finding: " << f.dump());
    CHECK(f.at("container").value("id", json()).is_null());
    CHECK(f.value("pod", json()).is_null());
    check_names_nothing_of(f, victim, "app", victim_id);
}
