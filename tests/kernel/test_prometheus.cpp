// A real scrape, a real alert: Debian's Prometheus server scrapes a real `initwatch watch`
// every second with deploy/prometheus/rules.yaml loaded, the story's script runs as the
// init of a pid namespace (unshare), and the alert ContainerInitExitedLeavingProcesses is
// seen firing through Prometheus's HTTP API (/api/v1/alerts), with its labels.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>

#include "fixtures/processes.h"
#include "harness.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

// The repository's top directory: SCRIPT_DIR is <top>/tests/kernel/scripts.
std::string top_dir() { return std::filesystem::canonical(std::string(SCRIPT_DIR) + "/../../..").string(); }

// The port a `watch --metrics-address HOST:0` logged that it serves on; 0 if none.
// A loopback port nothing listens on now (the kernel's choice for a bind to port 0).
uint16_t free_loopback_port() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    close(fd);
    REQUIRE(ok);
    return ntohs(addr.sin_port);
}

// A directory removed with everything in it when the test ends, failed or not.
struct TempDir {
    std::string path = temp_path("prometheus");
    TempDir() { REQUIRE(mkdir(path.c_str(), 0700) == 0); }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

// GET on Prometheus's API with curl (bounded), parsed; null when it did not answer.
json api_get(uint16_t port, const std::string& path, const std::string& query = "") {
    std::string command = "curl -sf --max-time 5 -G 'http://127.0.0.1:" + std::to_string(port) + path + "'";
    if (!query.empty()) command += " --data-urlencode 'query=" + query + "'";
    const std::string body = shell_output(command + " || true", 15);
    const json j = json::parse(body, nullptr, false);
    return j.is_discarded() ? json() : j;
}

}  // namespace

TEST_CASE(
    "prometheus: a real Prometheus scraping watch fires ContainerInitExitedLeavingProcesses of rules.yaml") {
    require_programs({"prometheus", "curl", "unshare"});
    const std::string top = top_dir();
    const std::string rules = top + "/deploy/prometheus/rules.yaml";
    const std::string story = top + "/examples/story/2-server-backgrounded.sh";
    REQUIRE(path_exists(rules));
    REQUIRE(path_exists(story));

    const std::string output = temp_path("prometheus-watch.json");
    Background watch(
        {"watch", "--json", "--output", output, "--metrics-address", "127.0.0.1:0", "--log-level", "info"},
        output);
    REQUIRE(watch.wait_for_output("snapshot:", 30));
    const uint16_t metrics_port = watch.metrics_port();
    REQUIRE(metrics_port != 0);
    const std::string target = "127.0.0.1:" + std::to_string(metrics_port);

    // Prometheus: 1 s scrapes and evaluations, the rules file of the repository, a storage
    // directory of its own, loopback only; killed with its process group when the test ends.
    TempDir dir;
    write_file(dir.path + "/prometheus.yml",
               "global:\n"
               "  scrape_interval: 1s\n"
               "  scrape_timeout: 1s\n"
               "  evaluation_interval: 1s\n"
               "rule_files:\n"
               "  - " +
                   rules +
                   "\n"
                   "scrape_configs:\n"
                   "  - job_name: initwatch\n"
                   "    static_configs:\n"
                   "      - targets: ['" +
                   target + "']\n");
    const uint16_t port = free_loopback_port();
    Background prometheus(
        {"--config.file=" + dir.path + "/prometheus.yml", "--storage.tsdb.path=" + dir.path + "/data",
         "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
        "", find_program("prometheus"));

    // Ready, and the target scraped (up == 1), each within a bound.
    auto until = [](double seconds, const auto& done) {
        const auto deadline = deadline_in(seconds);
        while (std::chrono::steady_clock::now() < deadline) {
            if (done()) return true;
            sleep_ms(250);
        }
        return false;
    };
    const bool ready = until(60, [&] {
        return shell_output("curl -sf --max-time 2 http://127.0.0.1:" + std::to_string(port) +
                                "/-/ready >/dev/null && echo ready || true",
                            10) == "ready\n";
    });
    const bool up = ready && until(30, [&] {
                        const json r = api_get(port, "/api/v1/query", "up{job=\"initwatch\"}");
                        return r.is_object() && r["data"]["result"].size() == 1 &&
                               r["data"]["result"][0]["value"][1] == "1";
                    });
    INFO("prometheus's log: " << prometheus.output_so_far());
    REQUIRE(ready);
    REQUIRE(up);
    // The rules are loaded: the group of rules.yaml, evaluated.
    const json loaded = api_get(port, "/api/v1/rules");
    REQUIRE(loaded.is_object());
    CHECK(loaded["data"]["groups"].size() == 1);
    CHECK(loaded["data"]["groups"][0]["name"] == "initwatch");
    CHECK(loaded["data"]["groups"][0]["rules"].size() == 3);

    // The story's script as the init of a pid namespace: it exits leaving its server behind.
    // The marker (an argument the script ignores) tells our finding from others' on the host.
    const std::string marker = "iw-prometheus-" + random_hex(8);
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(shell("unshare --pid --fork --mount-proc sh " + story + " " + marker, 30) == 0);
    REQUIRE(watch.wait_for_finding(marker, 30));

    // A plain unshare namespace has no pod, so initwatch's namespace, pod and container
    // labels are empty, which Prometheus drops: the alert carries the scrape's instance.
    const json expected = {
        {"alertname", "ContainerInitExitedLeavingProcesses"}, {"instance", target}, {"severity", "warning"}};
    json alert;
    const bool fired = until(30, [&] {
        const json r = api_get(port, "/api/v1/alerts");
        if (!r.is_object()) return false;
        for (const auto& a : r["data"]["alerts"])
            if (a["labels"] == expected && a.value("state", "") == "firing") {
                alert = a;
                return true;
            }
        return false;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO("alerts: " << api_get(port, "/api/v1/alerts").dump());
    REQUIRE(fired);
    WARN("prometheus: ContainerInitExitedLeavingProcesses firing "
         << seconds << " s after the story's script started: " << alert.dump());
    CHECK(alert["annotations"]["summary"] == "/ () on " + target + ": init exited leaving processes behind");

    // The series it fired on, as Prometheus stored it from the scrape.
    const json series = api_get(port, "/api/v1/query", "initwatch_findings_total{type=\"init_exit\"}");
    INFO(series.dump());
    REQUIRE(series.is_object());
    bool found = false;
    for (const auto& s : series["data"]["result"])
        found |= s["metric"] == json({{"__name__", "initwatch_findings_total"},
                                      {"instance", target},
                                      {"job", "initwatch"},
                                      {"severity", "warning"},
                                      {"type", "init_exit"}}) &&
                 std::stod(s["value"][1].get<std::string>()) >= 1;
    CHECK(found);

    REQUIRE(kill(prometheus.pid(), SIGTERM) == 0);
    prometheus.finish(30);
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    Result r = watch.finish(10);
    CHECK(r.status == 0);
    const auto findings = r.findings_with(marker);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].at("severity") == "warning");
    CHECK(findings[0].at("pod").is_null());
}
