// Prometheus metrics for the node agent: the collector thread counts, the HTTP thread
// renders them. The registry, its families and the text exposition (format 0.0.4) are
// prometheus-cpp's core; what is ours is the bound on finding label sets and making label
// values valid UTF-8. Counting an event takes no lock and allocates nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "model/event.h"

namespace initwatch::report {

// In the order of model::Event's alternatives.
enum class EventKind { fork, exec, exit, snapshot };
inline constexpr size_t kEventKinds = 4;

class Metrics {
public:
    // Findings keep their own series for this many label sets; later ones are counted
    // under one set whose labels are all "_other", so a node with many short-lived pods
    // cannot grow the scrape without bound.
    static constexpr size_t kDefaultMaxFindingLabelSets = 500;
    static constexpr std::string_view kOverflowLabel = "_other";

    explicit Metrics(size_t max_finding_label_sets = kDefaultMaxFindingLabelSets);
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    void count_event(EventKind kind);
    void count_event(const model::Event& event) { count_event(static_cast<EventKind>(event.index())); }

    // Empty strings are fine where the pod is not known (Prometheus treats them as absent).
    void count_finding(std::string_view severity, std::string_view namespace_name, std::string_view pod,
                       std::string_view container);
    // `total` is the kernel's cumulative count for this reason (not a delta).
    void set_lost(std::string_view reason, uint64_t total);
    void set_tracked(size_t processes, size_t containers);
    // Cumulative run time of one BPF program (kernel.bpf_stats_enabled=1).
    void set_bpf_run_time(std::string_view program, double seconds);
    void set_build_info(std::string_view version, std::string_view kernel);

    // The whole scrape, text format 0.0.4.
    std::string exposition() const;

private:
    struct Registry;  // prometheus-cpp's registry, the families in it and the label-set bound
    const std::unique_ptr<Registry> registry_;
};

static_assert(std::variant_size_v<model::Event> == kEventKinds);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(EventKind::fork), model::Event>,
                             model::ForkEvent>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(EventKind::exec), model::Event>,
                             model::ExecEvent>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(EventKind::exit), model::Event>,
                             model::ExitEvent>);
static_assert(
    std::is_same_v<std::variant_alternative_t<static_cast<size_t>(EventKind::snapshot), model::Event>,
                   model::SnapshotEvent>);

// What /healthz and /readyz answer, written by the collector thread, read by the HTTP one.
class Health {
public:
    // Longer than this without draining the ring buffer means the collector is stuck.
    static constexpr uint64_t kMaxDrainAgeNs = 5'000'000'000ULL;

    void set_attached() { attached_.store(true, std::memory_order_relaxed); }
    void set_drained(uint64_t monotonic_ns) { last_drain_ns_.store(monotonic_ns, std::memory_order_relaxed); }
    void set_snapshot_done() { snapshot_done_.store(true, std::memory_order_relaxed); }

    bool attached() const { return attached_.load(std::memory_order_relaxed); }
    uint64_t last_drain_ns() const { return last_drain_ns_.load(std::memory_order_relaxed); }

    // Probes attached and the ring buffer drained within kMaxDrainAgeNs of now.
    bool healthz(uint64_t now_ns) const;
    // The startup snapshot is in the model: findings from now on know pre-existing processes.
    bool readyz() const { return snapshot_done_.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> attached_{false};
    std::atomic<uint64_t> last_drain_ns_{0};
    std::atomic<bool> snapshot_done_{false};
};

}  // namespace initwatch::report
