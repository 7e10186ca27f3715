// The agent's own life on a busy node: every exit says why on stderr (never a silent 0), and
// findings under CPU starvation are delivered or counted as lost, never dropped unsaid.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <regex>
#include <string>
#include <thread>

#include "harness.h"
#include "runtimes.h"

using namespace initwatch::ktest;
using nlohmann::json;

namespace {

// The last non-empty line of stderr.
std::string last_line(const std::string& text) {
    const auto lines = split_lines(text);
    return lines.empty() ? "" : lines.back();
}

// Runs runc containers one after the other in the background, each one's init backgrounding a
// sleep and exiting 0 (a finding each), for as long as it lives (at most `seconds`).
class ContainerChurn {
public:
    explicit ContainerChurn(double seconds) : base_(churn_options()) {
        const std::string runc = "runc --root '" + base_.state_root() + "'";
        const std::string loop = "end=$(( $(date +%s) + " + std::to_string(static_cast<int>(seconds)) +
                                 " )); i=0; while [ $(date +%s) -lt $end ]; do " + runc + " run --bundle '" +
                                 base_.bundle() + "' iw-churn-$i </dev/null >/dev/null 2>&1; " + runc +
                                 " delete -f iw-churn-$i >/dev/null 2>&1; i=$((i+1)); echo $i > '" + count_ +
                                 "'; done";
        process_ = std::make_unique<Background>(std::vector<std::string>{"-c", loop}, "", "/bin/sh");
    }
    ~ContainerChurn() {
        process_.reset();  // the loop's group is killed; what it left runs on in runc's state
        shell("runc --root '" + base_.state_root() + "' list -q 2>/dev/null | xargs -r -n 1 runc --root '" +
                  base_.state_root() + "' delete -f >/dev/null 2>&1",
              60);
        unlink(count_.c_str());
    }
    size_t started() const {
        const std::string n = read_file(count_);
        return n.empty() ? 0 : std::stoul(n);
    }

private:
    static RuncOptions churn_options() {
        RuncOptions o;
        o.id = "iw-churn-" + random_hex(6);
        o.cgroups_path = "/initwatch-ktest-churn-" + random_hex(8);
        o.script = "#!/bin/sh\nsleep 2 &\nsleep 0.05\nexit 0\n";
        return o;
    }

    RuncContainer base_;
    std::string count_ = temp_path("churn-count");
    std::unique_ptr<Background> process_;
};

}  // namespace

TEST_CASE("agent: 100 starts and stops of watch beside container churn, each exit with its cause on stderr",
          "[stress][runc]") {
    require_root();
    require_programs({"runc", "busybox"});
    ContainerChurn churn(900);
    std::mt19937 random(std::random_device{}());
    const std::regex closing("^initwatch: watch stopped after [0-9.hms]+: SIGTERM from pid " +
                             std::to_string(getpid()) + " \\([^)]*, uid 0\\); exit status 0$");
    size_t findings = 0;
    for (int run = 0; run < 100; ++run) {
        INFO("run " << run);
        const std::string output = temp_path("agent.json");
        Background watch({"watch", "--json", "--output", output, "--log-level", "info"}, output);
        if (!watch.wait_for_output("snapshot:", 30)) {
            const Result r = watch.finish(10);
            FAIL("no snapshot line within 30 s; status " << r.status << ", stderr:\n" << r.err);
        }
        // Up to a second of watching, while containers come and go.
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % 1000));
        const bool alive = kill(watch.pid(), 0) == 0;
        REQUIRE(kill(watch.pid(), SIGTERM) == 0);
        const Result r = watch.finish(30);
        INFO("stderr:\n" << r.err);
        CHECK(alive);  // it ran until told to stop
        CHECK(r.status == 0);
        CHECK(std::regex_match(last_line(r.err), closing));
        findings += r.of_type("init_exit").size();
        unlink(output.c_str());
    }
    WARN(churn.started() << " containers started meanwhile; " << findings << " findings about them");
    CHECK(churn.started() > 10);
}

TEST_CASE(
    "agent: starved of CPU while containers start, every finding comes with its container or is counted lost",
    "[stress]") {
    require_root();
    require_programs({"unshare", "taskset", "nice"});
    // initwatch on CPU 0 at nice 19 beside a busy loop at nice 0 there: about 1.5 % of a CPU.
    // With the default ring, and with one so small that records must be lost.
    const std::string ring = GENERATE(as<std::string>(), "4194304", "8192");
    INFO("--ring-buffer-size " << ring);
    Background competitor({"-c", "exec taskset -c 0 sh -c 'while :; do :; done'"}, "", "/bin/sh");
    const std::string output = temp_path("starved.json");
    Background watch({"-n", "19", "taskset", "-c", "0", INITWATCH_BIN, "watch", "--json", "--output", output,
                      "--ring-buffer-size", ring, "--log-level", "info"},
                     output, find_program("nice"));
    REQUIRE(watch.wait_for_output("snapshot:", 120));

    // Containers without a runtime: a cgroup of its own each, PID 1 of a new namespace born in
    // it, which backgrounds a sleeper and exits 0 (a finding each).
    const std::string parent = "/initwatch-ktest-starve-" + random_hex(8);
    const std::string dir = cgroup2_mount() + parent;
    REQUIRE(mkdir(dir.c_str(), 0755) == 0);
    constexpr int kContainers = 40;
    for (int i = 0; i < kContainers; ++i) {
        const std::string cg = dir + "/c" + std::to_string(i);
        REQUIRE(mkdir(cg.c_str(), 0755) == 0);
        REQUIRE(shell("sh -c 'echo $$ > " + cg +
                          "/cgroup.procs; exec unshare --pid --fork --mount-proc "
                          "sh -c \"sleep 60 & exit 0\" iw-starve-" +
                          std::to_string(i) + "'",
                      60) == 0);
    }
    // Until every finding is out, or long enough that a missing one is not late but gone.
    const auto all_out = [&](const std::vector<json>& lines) {
        Result partial;
        partial.lines = lines;
        return partial.findings_with("iw-starve-").size() == kContainers;
    };
    watch.wait_for_lines(all_out, 120);
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    const Result r = watch.finish(120);
    remove_cgroup(parent);
    INFO("stderr:\n" << r.err);
    CHECK(r.status == 0);

    uint64_t lost = 0;
    for (const json& l : r.of_type("lost"))
        for (const auto& [reason, n] : l.at("counts").items())
            if (reason == "ringbuf_full" || reason == "process_table_full" || reason == "malformed")
                lost += n.get<uint64_t>();
    const auto findings = r.findings_with("iw-starve-");
    WARN(findings.size() << " of " << kContainers << " findings delivered; " << lost
                         << " records counted lost");
    // A finding is delivered, or the records it needed were counted as lost: never silence.
    if (findings.size() < kContainers) CHECK(lost > 0);
    for (const json& f : findings) {
        INFO(f.dump());
        // The container's number from its init's argv: `... iw-starve-N`, or, when the init's
        // exec record was lost, its parent's command line, which holds it too.
        std::string argv;
        for (const auto& a : f.at("init").at("argv")) argv += a.get<std::string>() + " ";
        const size_t at = argv.rfind("iw-starve-");
        REQUIRE(at != std::string::npos);
        const size_t digits = at + std::string("iw-starve-").size();
        const std::string n = argv.substr(digits, argv.find_first_not_of("0123456789", digits) - digits);
        const std::string expected = parent + "/c" + n;
        CHECK(f.at("container").at("cgroup_path") == expected);  // late, yet with its container
        CHECK(f.at("live").size() == 1);
    }
}

TEST_CASE(
    "agent: one pod's flood of findings is held to its output budget, another pod's finding still comes",
    "[stress]") {
    require_root();
    require_programs({"unshare"});
    const std::string output = temp_path("flood-output.json");
    Background watch({"watch", "--json", "--output", output, "--log-level", "info"}, output);
    REQUIRE(watch.wait_for_output("snapshot:", 60));
    // The attacker: one container (a pid namespace) whose init makes 100 nested namespaces one
    // after the other, each init leaving 20 sleepers with 2 KiB command lines behind.
    const std::string nested = temp_path("nested.sh"), attacker = temp_path("attacker.sh");
    write_file(nested, "i=0; while [ $i -lt 20 ]; do sleep 60 " + std::string(2000, 'p') +
                           " & i=$((i+1)); done; exit 0\n");
    write_file(attacker, "n=0; while [ $n -lt 100 ]; do unshare --pid --fork sh " + nested +
                             " iw-flood-nested; n=$((n+1)); done; sleep 2\n");
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(shell("unshare --pid --fork --kill-child sh " + attacker + " iw-flood-attacker", 300) == 0);
    // The victim, after the flood: its one finding must come.
    REQUIRE(shell("unshare --pid --fork sh -c 'sleep 30 & exit 0' iw-flood-victim", 30) == 0);
    REQUIRE(watch.wait_for_finding("iw-flood-victim", 60));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    REQUIRE(kill(watch.pid(), SIGTERM) == 0);
    const Result r = watch.finish(60);
    unlink(nested.c_str());
    unlink(attacker.c_str());
    size_t written = 0;  // the output file is read into r.lines (and removed): its lines' bytes
    for (const json& l : r.lines) written += l.dump().size() + 1;

    uint64_t suppressed = 0, summed_up = 0;
    for (const json& l : r.of_type("lost")) suppressed += l.at("counts").value("finding_suppressed", 0ULL);
    for (const json& l : r.of_type("suppressed")) summed_up += l.at("count").get<uint64_t>();
    const auto nested_findings = r.findings_with("iw-flood-nested");
    WARN(nested_findings.size() << " of 100 nested findings written, " << summed_up << " summed up, "
                                << written / 1024 << " KiB in " << seconds << " s");
    CHECK(r.findings_with("iw-flood-victim").size() == 1);
    CHECK(nested_findings.size() + summed_up == 100);  // each written, or counted in a summary
    CHECK(suppressed == summed_up);
    // The burst (10 findings, 1 MiB) and 16 KiB/s after it, with room for the other lines.
    CHECK(written < (1u << 20) + static_cast<size_t>(16 * 1024 * seconds) + 256 * 1024);
}
