// The agent's own life on a busy node: every exit says why on stderr (never a silent 0), and
// findings under CPU starvation are delivered or counted as lost, never dropped unsaid.
#include <signal.h>
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
    explicit ContainerChurn(double seconds)
        : base_(churn_options()) {
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
