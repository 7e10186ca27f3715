// --termination-message against a real runc container in the kubepods layout, with kubelet's
// log layout and kubelet's termination message file under a temp --host-root: the file
// <host-root>/var/lib/kubelet/pods/<uid>/containers/<name>/<8 hex> bind-mounted at
// /dev/termination-log in config.json, as kubelet asks the runtime to. After the story's
// backgrounded-server script the host file holds initwatch's note; a container's own
// message is kept, ours after it; a symlink planted in place of the file is not followed.
// Fixtures: runtimes.h.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "harness.h"
#include "runtimes.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

const std::vector<std::string> kRunc{"runc", "busybox"};
constexpr int kForeignFindings = 20;  // other tests may run containers on this host

using Clock = std::chrono::steady_clock;

std::string cgroup_path_of(const json& f) {
    const auto c = f.find("container");
    if (c == f.end() || !c->is_object()) return "";
    const auto p = c->find("cgroup_path");
    return p != c->end() && p->is_string() ? p->get<std::string>() : "";
}

void write_host_file(const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "we");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(text.data(), 1, text.size(), f) == text.size());
    REQUIRE(std::fclose(f) == 0);
    REQUIRE(chmod(path.c_str(), 0666) == 0);  // as kubelet makes it
}

// One pod container: kubelet's log layout and termination file, the runc container with the
// file bind-mounted at /dev/termination-log.
struct PodContainer {
    KubeletLogs logs;
    PodRef pod{"web-6f7c9d8b5-x2kqp", "shop", random_pod_uid()};
    std::string name = "server";
    std::string id = random_container_id();
    std::string file = random_hex(8);
    std::string host_file;
    std::unique_ptr<RuncContainer> container;

    explicit PodContainer(const std::string& script, const std::string& initial = "") {
        logs.add_container(pod, name, id);
        const std::string dir = logs.host_root() + "/var/lib/kubelet/pods/" + pod.uid + "/containers/" + name;
        std::filesystem::create_directories(dir);
        host_file = dir + "/" + file;
        write_host_file(host_file, initial);
        container = std::make_unique<RuncContainer>(
            RuncOptions{id, kubepods_cgroupfs_path("burstable", pod.uid, id), script, {"/startup.sh"}, ""});
        container->add_mount({{"destination", "/dev/termination-log"},
                              {"type", "bind"},
                              {"source", host_file},
                              {"options", {"rbind", "rw"}}});
    }
};

// `initwatch watch --termination-message --host-root ROOT` until the finding about the
// container is in; `before_exit` runs once the container's init runs. Returns the finding
// and initwatch's stderr.
std::pair<json, std::string> watch_finding(PodContainer& pc, const std::function<void()>& before_exit = {}) {
    const std::string output = temp_path("termination.json");
    Background watch(
        {"watch", "--json", "--output", output, "--count", std::to_string(1 + kForeignFindings), "--duration",
         "60", "--log-level", "info", "--host-root", pc.logs.host_root(), "--termination-message"},
        output);
    REQUIRE(watch.wait_for_output("probes attached", 30));
    pc.container->start();
    if (before_exit) before_exit();

    json found;
    const auto until = Clock::now() + std::chrono::seconds(15);
    while (found.is_null() && Clock::now() < until) {
        const std::string text = read_file(output);
        const size_t end = text.rfind('\n');
        for (const auto& l : parse_json_lines(end == std::string::npos ? "" : text.substr(0, end + 1)))
            if (l.value("type", "") == "init_exit" && cgroup_path_of(l) == pc.container->cgroup_path())
                found = l;
        if (found.is_null()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(watch.pid(), SIGINT);
    const Result r = watch.finish(10);
    INFO("initwatch stderr: " << r.err);
    CHECK(r.status == 0);
    REQUIRE_FALSE(found.is_null());
    return {found, r.err};
}

// The note of the story's finding, as it starts.
const std::string kStoryNote =
    "initwatch: init `/bin/sh /startup.sh` ended (exit 0) leaving 1 process: `sleep 3600` (background, "
    "nohup). ";

}  // namespace

TEST_CASE("termination message: the story's server script leaves initwatch's note in kubelet's file",
          "[container][runc]") {
    require_root();
    require_programs(kRunc);
    PodContainer pc(container_asset("server-backgrounded.sh"));
    const auto [finding, err] = watch_finding(pc);
    INFO("finding: " << finding.dump() << "\nstderr: " << err);
    CHECK(finding.at("pod").value("uid", "") == pc.pod.uid);
    // Written in finding(), right after the output line (the sinks of one report, in order).
    const std::string text = read_file(pc.host_file);
    INFO("host file: " << text);
    CHECK(text.rfind(kStoryNote, 0) == 0);
    CHECK(text.size() <= 1024);
    CHECK(text.back() == '\n');
    CHECK(text.find('\n') == text.size() - 1);  // one line: the note escapes container text
    CHECK(err.find("termination message not written") == std::string::npos);
}

TEST_CASE("termination message: a container that wrote its own message keeps it, ours after it",
          "[container][runc]") {
    require_root();
    require_programs(kRunc);
    const std::string own = "config /etc/app.yaml: missing key `listen`";
    PodContainer pc(
        "#!/bin/sh\n"
        "echo '" +
        own + "' > /dev/termination-log\n" + container_asset("server-backgrounded.sh"));
    const auto [finding, err] = watch_finding(pc);
    INFO("finding: " << finding.dump() << "\nstderr: " << err);
    const std::string text = read_file(pc.host_file);
    INFO("host file: " << text);
    CHECK(text.rfind(own + "\n\n" + kStoryNote, 0) == 0);
    CHECK(text.size() <= 4096);
}

TEST_CASE("termination message: a symlink planted in place of the file is not followed",
          "[container][runc]") {
    require_root();
    require_programs(kRunc);
    // The init lives 2 s: time to plant the symlink after the exec (when the mount was read).
    PodContainer pc("#!/bin/sh\ntrap '' HUP\nsleep 3600 &\nsleep 2\nexit 0\n", "the application's own\n");
    const std::string target = pc.logs.host_root() + "/etc-shadow-stand-in";
    write_host_file(target, "precious\n");
    const std::string moved = pc.host_file + ".real";
    const auto [finding, err] = watch_finding(pc, [&] {
        REQUIRE(pc.container->wait_for_init_argv({"/bin/sh", "/startup.sh"}, 10));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // watch reads the mount table
        const std::string link = pc.host_file + ".link";
        REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
        REQUIRE(rename(pc.host_file.c_str(), moved.c_str()) == 0);
        REQUIRE(rename(link.c_str(), pc.host_file.c_str()) == 0);
    });
    INFO("finding: " << finding.dump() << "\nstderr: " << err);
    CHECK(read_file(target) == "precious\n");
    CHECK(read_file(moved) == "the application's own\n");  // the container's file, untouched
    struct stat st {};
    REQUIRE(lstat(pc.host_file.c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK(err.find("termination message not written: symlink") != std::string::npos);
}
