#include "pipeline/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "meta/proc.h"
#include "util/time.h"

namespace initwatch::pipeline {

namespace {

// A snapshot process's cmdline read gets this long; then its argv stays unknown.
constexpr std::chrono::milliseconds kCmdlineDeadline{1000};
constexpr uint64_t kSecondNs = 1'000'000'000ULL;

int rank(model::Severity s) {
    switch (s) {
        case model::Severity::info:
            return 0;
        case model::Severity::warning:
            return 1;
        case model::Severity::error:
            return 2;
    }
    return 0;
}

// Each kind of finding counts its own repeats ("" for init exits: the story of a crash loop).
const char* repeat_story(model::Kind kind) {
    switch (kind) {
        case model::Kind::init_exit:
            return "";
        case model::Kind::worker_exit:
        case model::Kind::stop_ignored:
            return model::to_string(kind);
    }
    return model::to_string(kind);
}

}  // namespace

Pipeline::Pipeline(const PipelineOptions& options)
    : ring_buffer_bytes_(options.probe.ring_buffer_bytes),
      redactor_(options.redact, options.redact_next_after),
      probe_(options.probe),
      tracker_(options.limits),
      catalog_(options.catalog),
      snapshot_reader_(kCmdlineDeadline),
      resync_reader_(kCmdlineDeadline),
      scripts_(std::max<size_t>(options.limits.max_memory_bytes / 8, meta::ScriptReader::kMaxScriptBytes)) {
    if (catalog_.cgroup2_root().empty())
        spdlog::warn("no cgroup2 mount found: findings will carry no cgroup path");
    health_.set_attached();
    spdlog::info("probes attached: watching fork, exec and exit");
}

Pipeline::~Pipeline() {
    release_awaiting(util::monotonic_now_ns(), true);  // a command that ended without finish()
    for (auto& route : sinks_) route.sink->flush();
}

void Pipeline::add_sink(std::unique_ptr<Sink> sink, model::Severity min) {
    events_wanted_ = events_wanted_ || sink->wants_events();
    may_drop_ = may_drop_ || sink->may_drop();
    sinks_.push_back({std::move(sink), min});
}

std::optional<std::string> Pipeline::broken_sink() const {
    for (const auto& route : sinks_)
        if (auto why = route.sink->broken()) return why;
    return std::nullopt;
}

// What ran before the probes were attached; events since then wait in the ring buffer and
// are applied after it, each process merged by its key. argv is read from /proc off the
// event loop (a read can hang) and arrives in later steps.
void Pipeline::start() {
    snapshot_started_ns_ = util::monotonic_now_ns();
    std::vector<model::SnapshotEvent> tasks = probe_.snapshot();
    snapshot_size_ = tasks.size();
    read_argv_later(tasks, snapshot_reader_);
    for (auto& snap : tasks) {
        snapshot_cgroups_.insert(snap.task.cgroup_id);
        model::Event ev = std::move(snap);
        redactor_.apply(ev);  // comm
        count(ev);
        if (events_wanted_)
            for (auto& route : sinks_)
                if (route.sink->wants_events()) route.sink->event(ev, nullptr);
        tracker_.apply(ev);
    }
    for (auto& route : sinks_) route.sink->events_counted(event_counts_);
    health_.set_drained(util::monotonic_now_ns());  // the loop drains from here on
}

void Pipeline::read_argv_later(const std::vector<model::SnapshotEvent>& tasks, meta::ReadWorker& reader) {
    std::vector<meta::ReadWorker::Job> jobs;
    jobs.reserve(tasks.size());
    for (const auto& snap : tasks)
        jobs.push_back({snap.task.key, [pid = snap.task.key.tgid] {
                            return meta::read_cmdline(pid, probe::kMaxArgvBytes);
                        }});
    reader.submit(std::move(jobs));
}

void Pipeline::apply_read_argv() {
    read_argv_.clear();
    snapshot_reader_.take(read_argv_);
    resync_reader_.take(read_argv_);
    for (auto& r : read_argv_) {
        if (r.timed_out) continue;                                // stays argv unknown
        model::Argv argv = model::Argv::from_bytes(r.read.data);  // a process gone: empty
        redactor_.apply(argv);
        tracker_.set_snapshot_argv(r.key, std::move(argv), r.read.truncated);
    }
    read_argv_.clear();
    if (snapshot_pending_ && snapshot_reader_.idle()) {
        snapshot_pending_ = false;
        health_.set_snapshot_done();
        spdlog::info("snapshot: {} processes in {} ms ({} command lines not read in time)", snapshot_size_,
                     (util::monotonic_now_ns() - snapshot_started_ns_) / 1'000'000,
                     snapshot_reader_.timed_out());
    }
}

std::vector<model::Finding> Pipeline::step(int timeout_ms) {
    batch_.clear();
    apply_read_argv();
    // While the reader is busy, poll briefly: its results are applied between polls.
    const bool reading = snapshot_pending_ || !resync_reader_.idle() || scripts_.busy();
    const int wait_ms = more_records_ ? 0 : reading ? std::min(timeout_ms, 10) : timeout_ms;
    more_records_ = probe_.poll(wait_ms, batch_);
    const uint64_t now_ns_of_batch = util::monotonic_now_ns();
    health_.set_drained(now_ns_of_batch);
    std::vector<model::Finding> findings;
    for (auto& ev : batch_) {
        if (!redactor_.empty()) redactor_.apply(ev);
        count(ev);
        if (events_wanted_) {
            const model::ProcessSummary* known = tracker_.summary(model::task_of(ev).key);
            for (auto& route : sinks_)
                if (route.sink->wants_events()) route.sink->event(ev, known);
        }
        learn_cgroup(ev, now_ns_of_batch);
        if (auto f = tracker_.apply(ev)) findings.push_back(std::move(*f));
        learn_script(ev, now_ns_of_batch);
    }
    scripts_.poll(now_ns_of_batch);
    learn_pending_cgroups(now_ns_of_batch);
    release_awaiting(now_ns_of_batch, false);
    tracker_.take_due(now_ns_of_batch, findings);
    if (!batch_.empty())
        for (auto& route : sinks_) {
            route.sink->events_counted(event_counts_);
            if (route.sink->wants_events()) route.sink->flush();
        }
    batch_.clear();  // the argv it holds counts against the budget

    const uint64_t now = util::monotonic_now_ns();
    if (now - last_housekeeping_ns_ >= kSecondNs) housekeeping(now);
    return findings;
}

std::vector<model::Finding> Pipeline::drain() {
    std::vector<model::Finding> findings;
    const size_t max_steps = ring_buffer_bytes_ / probe::Probe::kDefaultPollBytes + 2;
    size_t steps = 0;
    do
        for (auto& f : step(0)) findings.push_back(std::move(f));
    while (more_records_ && ++steps < max_steps);
    return findings;
}

std::vector<model::Finding> Pipeline::settle_workers() {
    std::vector<model::Finding> findings;
    const uint64_t start = util::monotonic_now_ns();
    while (tracker_.pending_workers() && util::monotonic_now_ns() - start < model::kRestartWindowNs)
        for (auto& f : step(50)) findings.push_back(std::move(f));
    return findings;
}

std::vector<model::Finding> Pipeline::finish() {
    finished_ = true;
    const uint64_t now = util::monotonic_now_ns();
    check_drops(now, tracker_.stats());  // what was lost since the last second's check: said too
    release_awaiting(now, true);
    std::vector<OutputBudget::Summary> due;
    budget_.take_due(UINT64_MAX, due);
    summarise(due, now);
    std::vector<model::Finding> findings;
    tracker_.take_due(UINT64_MAX, findings);
    return findings;
}

void Pipeline::housekeeping(uint64_t now_ns) {
    last_housekeeping_ns_ = now_ns;
    // Records the kernel dropped leave the table wrong; a full table is no reason (a
    // snapshot could not add to it either).
    check_drops(now_ns, tracker_.stats());
    if (const uint64_t kernel = probe::records_lost(probe_.drops()); kernel > resynced_kernel_drops_) {
        resynced_kernel_drops_ = kernel;
        resync(now_ns);
    }
    tracker_.expire(now_ns);
    std::vector<OutputBudget::Summary> due;
    budget_.take_due(now_ns, due);
    summarise(due, now_ns);
    const model::TrackerStats t = tracker_.stats();
    Stats stats;
    stats.lost = lost_totals(probe_.drops(), t);
    stats.processes = t.processes;
    stats.containers = t.namespaces + t.cgroups;
    stats.bpf_run_time_ns = probe_.run_time_ns();
    for (auto& route : sinks_) route.sink->stats(stats);
}

// Cheap when known (a hash lookup); a miss walks the cgroup tree at most every 200 ms, so a
// cgroup missed now is retried in later steps, for a few seconds, while it may still exist.
void Pipeline::learn_cgroup(const model::Event& ev, uint64_t now_ns) {
    constexpr size_t kMaxUnresolved = 1024;
    const auto* exec = std::get_if<model::ExecEvent>(&ev);
    if (!exec || exec->task.cgroup_id <= 1 || unresolved_cgroups_.count(exec->task.cgroup_id)) return;
    if (!catalog_.learn(exec->task.cgroup_id, now_ns) && unresolved_cgroups_.size() < kMaxUnresolved)
        unresolved_cgroups_.emplace(exec->task.cgroup_id, now_ns);
}

void Pipeline::learn_script(const model::Event& ev, uint64_t now_ns) {
    if (const auto* exec = std::get_if<model::ExecEvent>(&ev)) {
        if (exec->task.ns_level && tracker_.runs_entrypoint(exec->task.key))
            scripts_.exec_seen(exec->task.key, exec->argv, now_ns);
    } else if (const auto* exit = std::get_if<model::ExitEvent>(&ev)) {
        scripts_.exited(exit->task.key, now_ns);
    }
}

void Pipeline::learn_pending_cgroups(uint64_t now_ns) {
    constexpr uint64_t kRetryNs = 3'000'000'000ULL;
    for (auto it = unresolved_cgroups_.begin(); it != unresolved_cgroups_.end();) {
        if (catalog_.learn(it->first, now_ns) || now_ns - it->second > kRetryNs)
            it = unresolved_cgroups_.erase(it);
        else
            ++it;
    }
}

LostCounts Pipeline::lost_totals(const probe::DropCounts& drops, const model::TrackerStats& stats) const {
    LostCounts totals;
    for (size_t r = 0; r < drops.size(); ++r) totals.emplace_back(probe::drop_reason_name(r), drops[r]);
    totals.emplace_back("malformed", probe_.malformed());
    totals.emplace_back("process_table_full", stats.untracked);
    // Processes tracked with less than their argv: no record lost, but said.
    totals.emplace_back("argv_dropped", stats.argv_dropped);
    totals.emplace_back("starter_dropped", stats.starters_dropped);  // exited parents not kept
    totals.emplace_back("worker_finding_dropped", stats.workers_dropped);
    totals.emplace_back("finding_suppressed", budget_.suppressed());  // over a container's output budget
    totals.emplace_back("argv_read_timeout", snapshot_reader_.timed_out() + resync_reader_.timed_out());
    totals.emplace_back("script_unread", scripts_.unread());        // a finding without its lines
    totals.emplace_back("killer_log_full", stats.killers_refused);  // a finding without killed_by
    if (may_drop_) {
        uint64_t dropped = 0;
        for (const auto& route : sinks_) dropped += route.sink->dropped();
        totals.emplace_back("sink_queue_full", dropped);
    }
    return totals;
}

LostCounts Pipeline::records_lost() const {
    const probe::DropCounts drops = probe_.drops();
    LostCounts lost;
    for (const size_t reason : {IW_DROP_RINGBUF_FULL, IW_DROP_EXITED_MAP_FULL})
        if (drops[reason]) lost.emplace_back(probe::drop_reason_name(reason), drops[reason]);
    if (const uint64_t malformed = probe_.malformed()) lost.emplace_back("malformed", malformed);
    if (const uint64_t untracked = tracker_.stats().untracked)
        lost.emplace_back("process_table_full", untracked);
    return lost;
}

// Drops are never silent: a notice to the sinks, and the next findings say incomplete.
// Returns true when records were lost (not for argv that could not be read, nor for what a
// sink's queue dropped).
bool Pipeline::check_drops(uint64_t now_ns, const model::TrackerStats& stats) {
    const probe::DropCounts drops = probe_.drops();
    LostCounts totals = lost_totals(drops, stats);
    LostCounts delta;
    for (size_t i = 0; i < totals.size(); ++i) {
        const uint64_t before = i < reported_lost_.size() ? reported_lost_[i].second : 0;
        if (totals[i].second > before) delta.emplace_back(totals[i].first, totals[i].second - before);
    }
    if (delta.empty()) return false;
    const uint64_t records_lost = probe::records_lost(drops) + probe_.malformed() + stats.untracked;
    const bool lost_records = records_lost > reported_records_lost_;
    reported_records_lost_ = records_lost;
    reported_lost_ = std::move(totals);
    for (auto& route : sinks_) route.sink->lost(now_ns, delta);
    if (lost_records) tracker_.mark_incomplete();
    return lost_records;
}

// Lost events leave the table with processes that exited unseen and without some that
// were born: a fresh snapshot puts it right. At most every few seconds: drops come in storms.
void Pipeline::resync(uint64_t now_ns) {
    constexpr uint64_t kMinInterval = 5'000'000'000ULL;
    if (last_resync_ns_ && now_ns - last_resync_ns_ < kMinInterval) return;
    last_resync_ns_ = now_ns;
    std::vector<model::SnapshotEvent> tasks = probe_.snapshot();
    for (auto& snap : tasks) redactor_.apply(snap);  // comm
    std::vector<model::SnapshotEvent> unknown;       // not tracked yet: their argv is read later
    for (const auto& snap : tasks)
        if (!tracker_.summary(snap.task.key)) unknown.push_back(snap);
    read_argv_later(unknown, resync_reader_);
    const size_t forgotten = tracker_.resync(tasks, now_ns);
    spdlog::info("events were lost: resynchronised with a snapshot of {} processes ({} exited unseen)",
                 tasks.size(), forgotten);
}

void Pipeline::report(model::Finding finding) {
    const uint64_t now = util::monotonic_now_ns();
    // Drops since the last check make this finding incomplete too.
    if (check_drops(now, tracker_.stats())) finding.incomplete = true;
    if (awaits(finding)) {
        if (!finished_ && awaiting_identity_.size() < kMaxAwaitingIdentity) {
            awaiting_identity_.push_back({std::move(finding), now + kIdentityWaitNs});
            return;
        }
        catalog_.wait_for_walk(1000);  // the command ends: a second at most
        scripts_.wait(1000, now);
    }
    deliver(std::move(finding), now);
}

bool Pipeline::awaits(const model::Finding& f) {
    return catalog_.identity_pending(f.cgroup_id) || scripts_.reading(f.script_process);
}

void Pipeline::release_awaiting(uint64_t now_ns, bool all) {
    if (awaiting_identity_.empty()) return;
    if (all) {
        catalog_.wait_for_walk(1000);
        scripts_.wait(1000, now_ns);
    }
    std::vector<Awaiting> ready;
    for (auto it = awaiting_identity_.begin(); it != awaiting_identity_.end();) {
        if (all || now_ns >= it->until_ns || !awaits(it->finding)) {
            ready.push_back(std::move(*it));
            it = awaiting_identity_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& a : ready) deliver(std::move(a.finding), now_ns);
}

void Pipeline::deliver(model::Finding finding, uint64_t now) {
    scripts_.attach(finding);
    meta::FindingContext context;
    context.container = catalog_.describe(finding.cgroup_id, now);
    if (auto& k = finding.killed_by) {
        if (k->kind == model::KilledBy::Sender::process && k->sender_cgroup_id) {
            // A process of the node has no container: its cgroup names no runtime's.
            meta::ContainerInfo c = catalog_.describe(k->sender_cgroup_id, now);
            if (c.id || k->sender_ns_level > 0) context.killer_container = std::move(c);
        }
        if (k->kind == model::KilledBy::Sender::oom && context.container.cgroup_path &&
            !catalog_.cgroup2_root().empty()) {
            k->memory_max = meta::memory_limit(catalog_.cgroup2_root(), *context.container.cgroup_path);
            finding.diagnosis = model::diagnose(finding);
        }
    }
    context.node = catalog_.node();
    context.repeat = catalog_.record_finding(context.container, now, repeat_story(finding.kind));
    std::vector<OutputBudget::Summary> due;
    const bool admitted = budget_.admit(finding, context, now, due);
    if (finished_) budget_.take_due(UINT64_MAX, due);  // the command ends: no later summary
    summarise(due, now);
    for (auto& route : sinks_)
        if (rank(finding.severity) >= rank(route.min) && (admitted || route.sink->takes_every_finding()))
            route.sink->finding(finding, context);
}

void Pipeline::summarise(std::vector<OutputBudget::Summary>& due, uint64_t now_ns) {
    for (const auto& s : due)
        for (auto& route : sinks_) route.sink->suppressed(now_ns, s.context, s.suppressed, s.first_ns);
    due.clear();
}

}  // namespace initwatch::pipeline
