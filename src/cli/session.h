// One tracing session: the probe feeding the tracker, findings enriched and reported.
// Shared by `watch` and `run`.
#pragma once

#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cli/http_endpoint.h"
#include "cli/options.h"
#include "meta/cmdline_reader.h"
#include "meta/container_catalog.h"
#include "model/redactor.h"
#include "model/tracker.h"
#include "probe/probe.h"
#include "report/metrics.h"
#include "report/output.h"

namespace initwatch::cli {

class Session {
public:
    // Attaches the probes (throws initwatch::Error) and opens the output.
    explicit Session(const Options& options);
    ~Session();

    // Waits up to timeout_ms for events and applies them; returns the findings they made.
    std::vector<model::Finding> step(int timeout_ms);
    void report(model::Finding finding);

    // A command line as every output shows it (--redact applied).
    std::vector<std::string> redacted(std::vector<std::string> argv) const {
        redactor_.apply(argv);
        return argv;
    }

    // The last step left records in the ring (steps drain a bounded number of bytes).
    bool backlog() const { return more_records_; }
    bool output_broken() const { return output_->broken(); }
    // A cgroup that held processes of the startup snapshot (`watch -- CMD` does not judge it).
    bool cgroup_seen_at_start(uint64_t cgroup_id) const { return snapshot_cgroups_.count(cgroup_id) > 0; }
    const std::string& cgroup2_root() const { return catalog_.cgroup2_root(); }

private:
    void take_snapshot();
    // Hands the snapshot's processes to the cmdline reader; their argv follows.
    void read_argv_later(const std::vector<model::SnapshotEvent>& tasks);
    // argv the reader has read since the last step; the snapshot is done when none is left.
    void apply_read_argv();
    // Resolves the cgroup of every program exec'd in a container cgroup while it exists.
    void learn_cgroup(const model::Event& ev, uint64_t now_ns);
    void learn_pending_cgroups(uint64_t now_ns);
    void update_metrics();
    // Reports drops counted since the last call; true if there were any.
    bool check_drops(uint64_t now_ns);
    void resync(uint64_t now_ns);

    Options options_;
    report::Metrics metrics_;
    report::Health health_;
    std::FILE* file_ = nullptr;  // owned when --output is a file
    std::unique_ptr<report::Output> output_;
    model::Severity min_severity_;
    model::Redactor redactor_;  // before the probe: a bad pattern fails before BPF is loaded
    probe::Probe probe_;
    model::Tracker tracker_;
    meta::ContainerCatalog catalog_;
    std::unique_ptr<HttpEndpoint> http_;  // with --metrics-address
    meta::CmdlineReader cmdline_reader_;
    std::vector<meta::CmdlineReader::Result> read_argv_;
    bool snapshot_pending_ = true;  // argv of the startup snapshot still being read
    uint64_t snapshot_started_ns_ = 0;
    size_t snapshot_size_ = 0;
    std::unordered_set<uint64_t> snapshot_cgroups_;
    bool more_records_ = false;
    std::unordered_map<uint64_t, uint64_t> unresolved_cgroups_;  // cgroup id -> first exec seen there  // the last poll left records in the ring
    std::vector<model::Event> batch_;
    probe::DropCounts reported_drops_{};
    uint64_t reported_malformed_ = 0;
    uint64_t reported_untracked_ = 0;
    uint64_t reported_argv_dropped_ = 0;
    uint64_t reported_argv_timeouts_ = 0;
    uint64_t last_resync_ns_ = 0;
    uint64_t last_housekeeping_ns_ = 0;
};

}  // namespace initwatch::cli
