// Where the pipeline's results go. Text, JSON lines and metrics are sinks; a sink that can
// be slow (the network) is wrapped in a QueuedSink, so that the event loop never waits.
//
// Every call comes from the pipeline's thread, in the order things happened.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "meta/container.h"
#include "model/event.h"
#include "model/finding.h"

namespace initwatch::pipeline {

// Counts by reason ("ringbuf_full", "argv_dropped", ...), in a fixed order.
using LostCounts = std::vector<std::pair<std::string, uint64_t>>;

// In the order of model::Event's alternatives.
enum class EventKind { fork, exec, exit, snapshot, signal, oom_victim };
inline constexpr size_t kEventKinds = 6;
using EventCounts = std::array<uint64_t, kEventKinds>;

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
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(EventKind::signal), model::Event>,
                             model::SignalEvent>);
static_assert(
    std::is_same_v<std::variant_alternative_t<static_cast<size_t>(EventKind::oom_victim), model::Event>,
                   model::OomEvent>);

// What the pipeline has counted since it started, once a second.
struct Stats {
    LostCounts lost;        // cumulative: kernel drops, process_table_full, argv_dropped, ...
    size_t processes = 0;   // in the process table
    size_t containers = 0;  // namespaces and container cgroups tracked
    std::vector<std::pair<std::string, uint64_t>> bpf_run_time_ns;  // per program; empty if not counted
};

class Sink {
public:
    virtual ~Sink() = default;

    virtual void finding(const model::Finding& f, const meta::FindingContext& context) = 0;
    // Every event, when wants_events(); `known` is what the model knew of the process
    // before this event (may be null).
    virtual bool wants_events() const { return false; }
    virtual void event(const model::Event& /*e*/, const model::ProcessSummary* /*known*/) {}
    // Events counted so far, by kind (cumulative), after each step that had events.
    virtual void events_counted(const EventCounts& /*totals*/) {}
    // What was lost since the last notice (a delta), as soon as it is seen.
    virtual void lost(uint64_t /*ts_ns*/, const LostCounts& /*delta*/) {}
    // `count` findings about this container were not written since `first_ns`: it was over its
    // output budget (pipeline/output_budget.h).
    virtual void suppressed(uint64_t /*ts_ns*/, const meta::FindingContext& /*context*/, uint64_t /*count*/,
                            uint64_t /*first_ns*/) {}
    // The sink takes every finding, also those over a container's output budget (metrics).
    virtual bool takes_every_finding() const { return false; }
    virtual void stats(const Stats& /*totals*/) {}
    // End of a step that wrote something: make it visible.
    virtual void flush() {}
    // Why a write failed for good ("cannot write to stdout: Broken pipe": the reader of a
    // pipe went away), or nullopt: the command stops and says it.
    virtual std::optional<std::string> broken() const { return std::nullopt; }
    // A sink that may drop records (a bounded queue) says so, and how many it dropped:
    // counted as lost "sink_queue_full".
    virtual bool may_drop() const { return false; }
    virtual uint64_t dropped() const { return 0; }
    // From another thread, when a close has waited long enough: end the call in progress
    // soon, try nothing more, and report nothing more (what it reports to may be gone).
    virtual void cancel() {}
};

}  // namespace initwatch::pipeline
