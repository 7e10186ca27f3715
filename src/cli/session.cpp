#include "cli/session.h"

#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <initwatch/error.h>
#include <initwatch/version.h>


namespace initwatch::cli {

namespace {

std::FILE* open_output(const std::string& path) {
    if (path.empty() || path == "-") return stdout;
    std::FILE* f = std::fopen(path.c_str(), "we");
    if (!f) throw Error("cannot write to " + path + ": " + std::strerror(errno));
    return f;
}

std::unique_ptr<report::Output> make_output(const Options& o, std::FILE* f) {
    const bool json = o.format == Format::json ||
                      (o.format == Format::automatic && o.command == Command::watch && !isatty(fileno(f)));
    if (json) return report::make_json_output(f);
    const bool color = o.color == ColorMode::always ||
                       (o.color == ColorMode::automatic && isatty(fileno(f)) && std::getenv("NO_COLOR") == nullptr);
    return report::make_text_output(f, color);
}

// Records the kernel could not deliver; argv it could not read is no lost event.
uint64_t kernel_drops(const probe::DropCounts& d) { return d[IW_DROP_RINGBUF_FULL] + d[IW_DROP_EXITED_MAP_FULL]; }

// A snapshot process's cmdline read gets this long; then its argv stays unknown.
constexpr std::chrono::milliseconds kCmdlineDeadline{1000};

model::TrackerLimits tracker_limits(const Options& o) {
    model::TrackerLimits limits;
    limits.max_memory_bytes = o.max_memory_bytes;
    limits.max_processes = o.max_processes;
    limits.max_listed = o.max_listed;
    return limits;
}

model::Severity parse_severity(const std::string& s) {
    return s == "error" ? model::Severity::error : s == "warning" ? model::Severity::warning : model::Severity::info;
}

int severity_rank(model::Severity s) {
    switch (s) {
        case model::Severity::info: return 0;
        case model::Severity::warning: return 1;
        case model::Severity::error: return 2;
    }
    return 0;
}

}  // namespace

Session::Session(const Options& options)
    : options_(options),
      file_(open_output(options.output_path)),
      output_(make_output(options, file_)),
      min_severity_(parse_severity(options.min_severity)),
      redactor_(options.redact, options.redact_next_after),
      probe_(probe::ProbeOptions{options.ring_buffer_bytes, options.btf_path, options.exit_probe}),
      tracker_(tracker_limits(options)),
      catalog_(meta::CatalogOptions{options.host_root, options.node_name, "/proc/self/mountinfo", {}, options.docker_root}),
      cmdline_reader_(IW_ARGV_LEN - 1, kCmdlineDeadline) {
    if (catalog_.cgroup2_root().empty()) spdlog::warn("no cgroup2 mount found: findings will carry no cgroup path");
    health_.set_attached();
    utsname uts{};
    uname(&uts);
    metrics_.set_build_info(kVersion, uts.release);
    if (!options.metrics_address.empty()) {
        http_ = std::make_unique<HttpEndpoint>(options.metrics_address, metrics_, health_);
        spdlog::info("serving /metrics, /healthz and /readyz on port {}", http_->port());
    }
    spdlog::info("probes attached: watching fork, exec and exit");
    take_snapshot();
    health_.set_drained(report::monotonic_now_ns());  // the loop drains from here on
}

// What ran before the probes were attached; events since then wait in the ring buffer and
// are applied after it, each process merged by its key. argv is read from /proc off the
// event loop (a read can hang) and arrives in later steps.
void Session::take_snapshot() {
    snapshot_started_ns_ = report::monotonic_now_ns();
    std::vector<model::SnapshotEvent> tasks = probe_.snapshot();
    snapshot_size_ = tasks.size();
    read_argv_later(tasks);
    for (auto& snap : tasks) {
        snapshot_cgroups_.insert(snap.task.cgroup_id);
        model::Event ev = std::move(snap);
        redactor_.apply(ev);  // comm
        if (options_.events) output_->event(ev, nullptr);
        metrics_.count_event(ev);
        tracker_.apply(ev);
    }
}

void Session::read_argv_later(const std::vector<model::SnapshotEvent>& tasks) {
    std::vector<meta::CmdlineReader::Request> requests;
    requests.reserve(tasks.size());
    for (const auto& snap : tasks)
        requests.push_back({snap.task.key, static_cast<pid_t>(snap.task.key.tgid)});
    cmdline_reader_.submit(std::move(requests));
}

void Session::apply_read_argv() {
    read_argv_.clear();
    cmdline_reader_.take(read_argv_);
    for (auto& r : read_argv_) {
        if (r.timed_out) continue;  // stays argv unknown
        redactor_.apply(r.argv);
        tracker_.set_snapshot_argv(r.key, std::move(r.argv), r.truncated);
    }
    read_argv_.clear();
    if (snapshot_pending_ && cmdline_reader_.idle()) {
        snapshot_pending_ = false;
        health_.set_snapshot_done();
        spdlog::info("snapshot: {} processes in {} ms ({} command lines not read in time)", snapshot_size_,
                     (report::monotonic_now_ns() - snapshot_started_ns_) / 1'000'000, cmdline_reader_.timed_out());
    }
}

Session::~Session() {
    output_->flush();
    if (file_ && file_ != stdout) std::fclose(file_);
}

std::vector<model::Finding> Session::step(int timeout_ms) {
    batch_.clear();
    apply_read_argv();
    // While the reader is busy, poll briefly: its results are applied between polls.
    const int wait_ms = more_records_ ? 0 : snapshot_pending_ ? std::min(timeout_ms, 10) : timeout_ms;
    more_records_ = probe_.poll(wait_ms, batch_);
    const uint64_t now_ns_of_batch = report::monotonic_now_ns();
    health_.set_drained(now_ns_of_batch);
    std::vector<model::Finding> findings;
    for (auto& ev : batch_) {
        if (!redactor_.empty()) redactor_.apply(ev);
        if (options_.events) output_->event(ev, tracker_.summary(model::task_of(ev).key));
        metrics_.count_event(ev);
        learn_cgroup(ev, now_ns_of_batch);
        if (auto f = tracker_.apply(ev)) findings.push_back(std::move(*f));
    }
    learn_pending_cgroups(now_ns_of_batch);
    if (options_.events && !batch_.empty()) output_->flush();
    batch_.clear();  // the argv it holds counts against the budget

    const uint64_t now = report::monotonic_now_ns();
    if (now - last_housekeeping_ns_ >= 1'000'000'000ULL) {
        last_housekeeping_ns_ = now;
        const uint64_t kernel_drops_before = kernel_drops(reported_drops_);
        if (check_drops(now) && kernel_drops(reported_drops_) > kernel_drops_before) resync(now);
        tracker_.expire(now);
        update_metrics();
    }
    return findings;
}

// Cheap when known (a hash lookup); a miss walks the cgroup tree at most every 200 ms, so a
// cgroup missed now is retried in later steps, for a few seconds, while it may still exist.
void Session::learn_cgroup(const model::Event& ev, uint64_t now_ns) {
    constexpr size_t kMaxUnresolved = 1024;
    const auto* exec = std::get_if<model::ExecEvent>(&ev);
    if (!exec || exec->task.cgroup_id <= 1 || unresolved_cgroups_.count(exec->task.cgroup_id)) return;
    if (!catalog_.learn(exec->task.cgroup_id, now_ns) && unresolved_cgroups_.size() < kMaxUnresolved)
        unresolved_cgroups_.emplace(exec->task.cgroup_id, now_ns);
}

void Session::learn_pending_cgroups(uint64_t now_ns) {
    constexpr uint64_t kRetryNs = 3'000'000'000ULL;
    for (auto it = unresolved_cgroups_.begin(); it != unresolved_cgroups_.end();) {
        if (catalog_.learn(it->first, now_ns) || now_ns - it->second > kRetryNs)
            it = unresolved_cgroups_.erase(it);
        else
            ++it;
    }
}

// Drops are never silent: a notice in the stream, and the next findings say incomplete.
// Returns true when records were lost (not for argv that could not be read).
bool Session::check_drops(uint64_t now_ns) {
    const probe::DropCounts drops = probe_.drops();
    report::LostCounts delta;
    for (size_t r = 0; r < drops.size(); ++r)
        if (drops[r] > reported_drops_[r]) delta.emplace_back(probe::drop_reason_name(r), drops[r] - reported_drops_[r]);
    if (probe_.malformed() > reported_malformed_)
        delta.emplace_back("malformed", probe_.malformed() - reported_malformed_);
    const model::TrackerStats stats = tracker_.stats();
    const uint64_t untracked = stats.untracked;
    if (untracked > reported_untracked_) delta.emplace_back("process_table_full", untracked - reported_untracked_);
    // Processes tracked with less than their argv: no record lost, but said.
    if (stats.argv_dropped > reported_argv_dropped_)
        delta.emplace_back("argv_dropped", stats.argv_dropped - reported_argv_dropped_);
    const uint64_t argv_timeouts = cmdline_reader_.timed_out();
    if (argv_timeouts > reported_argv_timeouts_)
        delta.emplace_back("argv_read_timeout", argv_timeouts - reported_argv_timeouts_);
    reported_argv_dropped_ = stats.argv_dropped;
    reported_argv_timeouts_ = argv_timeouts;
    if (delta.empty()) return false;
    // An exec record without argv is still a record: it is reported, but lost no process.
    const bool lost_records = kernel_drops(drops) > kernel_drops(reported_drops_) ||
                              probe_.malformed() > reported_malformed_ || untracked > reported_untracked_;
    reported_drops_ = drops;
    reported_malformed_ = probe_.malformed();
    reported_untracked_ = untracked;
    output_->lost(now_ns, delta);
    if (lost_records) tracker_.mark_incomplete();
    return lost_records;
}

// Lost events leave the table with processes that exited unseen and without some that
// were born: a fresh snapshot puts it right. At most every few seconds: drops come in storms.
// (A full process table is no reason: a snapshot could not add to it either.)
void Session::resync(uint64_t now_ns) {
    constexpr uint64_t kMinInterval = 5'000'000'000ULL;
    if (last_resync_ns_ && now_ns - last_resync_ns_ < kMinInterval) return;
    last_resync_ns_ = now_ns;
    std::vector<model::SnapshotEvent> tasks = probe_.snapshot();
    for (auto& snap : tasks) redactor_.apply(snap);  // comm
    std::vector<model::SnapshotEvent> unknown;  // not tracked yet: their argv is read later
    for (const auto& snap : tasks)
        if (!tracker_.summary(snap.task.key)) unknown.push_back(snap);
    read_argv_later(unknown);
    const size_t forgotten = tracker_.resync(tasks, now_ns);
    spdlog::info("events were lost: resynchronised with a snapshot of {} processes ({} exited unseen)",
                 tasks.size(), forgotten);
}

// Once a second: gauges and cumulative counters the HTTP thread exposes.
void Session::update_metrics() {
    const probe::DropCounts drops = probe_.drops();
    for (size_t r = 0; r < drops.size(); ++r) metrics_.set_lost(probe::drop_reason_name(r), drops[r]);
    metrics_.set_lost("malformed", probe_.malformed());
    const model::TrackerStats stats = tracker_.stats();
    metrics_.set_lost("process_table_full", stats.untracked);
    metrics_.set_lost("argv_dropped", stats.argv_dropped);
    metrics_.set_lost("argv_read_timeout", cmdline_reader_.timed_out());
    metrics_.set_tracked(stats.processes, stats.namespaces + stats.cgroups);
    for (const auto& [program, ns] : probe_.run_time_ns()) metrics_.set_bpf_run_time(program, ns / 1e9);
}

void Session::report(model::Finding finding) {
    // Drops since the last check make this finding incomplete too.
    if (check_drops(report::monotonic_now_ns())) finding.incomplete = true;
    const uint64_t now = report::monotonic_now_ns();
    meta::FindingContext context;
    context.container = catalog_.describe(finding.cgroup_id, now);
    context.node = catalog_.node();
    context.repeat = catalog_.record_finding(context.container, now);
    const meta::ContainerInfo& c = context.container;
    metrics_.count_finding(model::to_string(finding.severity),
                           c.pod ? c.pod->namespace_name.value_or("") : "", c.pod ? c.pod->name.value_or("") : "",
                           c.name.value_or(""));
    if (severity_rank(finding.severity) < severity_rank(min_severity_)) return;  // counted, not printed
    output_->finding(finding, context);
}

}  // namespace initwatch::cli
