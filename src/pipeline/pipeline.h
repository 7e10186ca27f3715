// The tracing pipeline: probe -> redaction -> model -> metadata -> sinks. Independent of the
// command line: `watch` and `run` build one, add their sinks and step it.
//
// One thread (the caller's) drives it. A step waits for records, decodes a bounded batch,
// redacts it, applies it to the model and returns the findings it made; report() gives a
// finding its container, pod and repeat count and hands it to every sink whose severity
// threshold it meets. Lost records are never silent: a `lost` notice to the sinks, and the
// next findings say incomplete.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "meta/container_catalog.h"
#include "meta/read_worker.h"
#include "meta/script_reader.h"
#include "model/redactor.h"
#include "model/tracker.h"
#include "pipeline/health.h"
#include "pipeline/output_budget.h"
#include "pipeline/sink.h"
#include "probe/probe.h"

namespace initwatch::pipeline {

struct PipelineOptions {
    probe::ProbeOptions probe;
    model::TrackerLimits limits;
    meta::CatalogOptions catalog;
    std::vector<std::string> redact;             // RE2 patterns (model::Redactor)
    std::vector<std::string> redact_next_after;  // flags whose next argument is masked
};

class Pipeline {
public:
    // Compiles the redaction patterns, then loads and attaches the probes: from here on no
    // process is missed. Throws initwatch::Error with a one-line reason.
    explicit Pipeline(const PipelineOptions& options);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Findings below `min` are not handed to this sink (every sink sees lost notices).
    void add_sink(std::unique_ptr<Sink> sink, model::Severity min = model::Severity::info);

    // Takes the startup snapshot (what ran before the probes), after the sinks are added.
    void start();

    // Waits up to timeout_ms for events and applies them; returns the findings they made.
    std::vector<model::Finding> step(int timeout_ms);
    // The findings still held back when the caller ends (a worker_exit waits a few seconds
    // for a supervisor's restart): call after the last step. Findings awaiting their cgroup's
    // path or script are handed to the sinks (after a second at most), and later ones no
    // longer wait.
    std::vector<model::Finding> finish();
    // Steps without waiting until the ring is empty, also past one step's byte bound (at
    // most max_drain_steps(): the ring holds at most its size); returns what they found.
    std::vector<model::Finding> drain();
    // Steps (50 ms each) until no worker_exit finding waits for its restart window, at most
    // that window; returns what they found. For a command that ends: a worker that ended
    // just before is judged with its restart, not without.
    std::vector<model::Finding> settle_workers();
    // Gives the finding its context and hands it to the sinks. A finding about a cgroup whose
    // path is still being found (the tree is walked off this thread) waits for it, at most
    // kIdentityWaitNs, in later steps; finish() hands over what still waits.
    void report(model::Finding finding);
    static constexpr uint64_t kIdentityWaitNs = 10'000'000'000ULL;
    static constexpr size_t kMaxAwaitingIdentity = 256;

    // A command line as every sink shows it (--redact applied).
    std::vector<std::string> redacted(std::vector<std::string> argv) const {
        redactor_.apply(argv);
        return argv;
    }

    // The last step left records in the ring (steps drain a bounded number of bytes).
    bool backlog() const { return more_records_; }
    // Why a sink can no longer write (e.g. stdout's reader went away), or nullopt.
    std::optional<std::string> broken_sink() const;
    const std::string& cgroup2_root() const { return catalog_.cgroup2_root(); }
    // A cgroup that held processes of the startup snapshot (`watch -- CMD` does not judge it).
    bool cgroup_seen_at_start(uint64_t cgroup_id) const { return snapshot_cgroups_.count(cgroup_id) > 0; }
    const Health& health() const { return health_; }
    // Records lost for good since the probes attached, by reason (those with any): what a
    // verdict of `run` or the gate was blind to. Empty when nothing was lost.
    LostCounts records_lost() const;

private:
    struct Route {
        std::unique_ptr<Sink> sink;
        model::Severity min;
    };

    void apply(model::Event& ev, uint64_t now_ns, bool events_wanted);
    void deliver(model::Finding finding, uint64_t now_ns);
    void summarise(std::vector<OutputBudget::Summary>& due, uint64_t now_ns);
    // Hands over the findings whose cgroup is known now, or can no longer be (all: `all`).
    void release_awaiting(uint64_t now_ns, bool all);
    // Its container's identity or its script is still being read.
    bool awaits(const model::Finding& f);
    // Reads the script of a process that may run its container's entrypoint.
    void learn_script(const model::Event& ev, uint64_t now_ns);
    void count(const model::Event& ev) { ++event_counts_[ev.index()]; }
    // Hands the snapshot's processes to a cmdline reader; their argv follows.
    void read_argv_later(const std::vector<model::SnapshotEvent>& tasks, meta::ReadWorker& reader);
    // argv the reader has read since the last step; the snapshot is done when none is left.
    void apply_read_argv();
    // Resolves the cgroup of every program exec'd in a container cgroup while it exists.
    void learn_cgroup(const model::Event& ev, uint64_t now_ns);
    void learn_pending_cgroups(uint64_t now_ns);
    // Cumulative counts of everything lost, by reason.
    LostCounts lost_totals(const probe::DropCounts& drops, const model::TrackerStats& stats) const;
    // Reports losses counted since the last call; true if records were lost.
    bool check_drops(uint64_t now_ns, const model::TrackerStats& stats);
    void resync(uint64_t now_ns);
    void housekeeping(uint64_t now_ns);

    size_t ring_buffer_bytes_;
    model::Redactor redactor_;  // before the probe: a bad pattern fails before BPF is loaded
    probe::Probe probe_;
    model::Tracker tracker_;
    meta::ContainerCatalog catalog_;
    // /proc/PID/cmdline of the startup snapshot's processes, and of those a resync found: two
    // readers, so that the startup snapshot is done when its own reads are.
    meta::ReadWorker snapshot_reader_;
    meta::ReadWorker resync_reader_;
    // Entrypoint scripts: a finding waits for its script's read (half a second at most).
    meta::ScriptReader scripts_;
    Health health_;
    std::vector<Route> sinks_;
    bool events_wanted_ = false;  // a sink wants every event
    bool may_drop_ = false;       // a sink may drop (a queue): its drops are counted

    struct Awaiting {
        model::Finding finding;
        uint64_t until_ns;
    };
    std::vector<Awaiting> awaiting_identity_;
    OutputBudget budget_;
    bool finished_ = false;  // finish() was called: findings no longer wait
    std::vector<model::Event> batch_;
    std::vector<meta::ReadWorker::Result> read_argv_;
    bool snapshot_pending_ = true;  // argv of the startup snapshot still being read
    uint64_t snapshot_started_ns_ = 0;
    size_t snapshot_size_ = 0;
    std::unordered_set<uint64_t> snapshot_cgroups_;
    bool more_records_ = false;                                  // the last poll left records in the ring
    std::unordered_map<uint64_t, uint64_t> unresolved_cgroups_;  // cgroup id -> first exec seen there
    EventCounts event_counts_{};
    LostCounts reported_lost_;  // what the last lost notice had counted, by reason
    uint64_t reported_records_lost_ = 0;
    uint64_t resynced_kernel_drops_ = 0;  // the kernel's drops when the table was last put right
    uint64_t last_resync_ns_ = 0;
    uint64_t last_housekeeping_ns_ = 0;
};

}  // namespace initwatch::pipeline
