#include "report/metrics_sink.h"

namespace initwatch::report {

void MetricsSink::finding(const model::Finding& f, const meta::FindingContext& context) {
    const meta::ContainerInfo& c = context.container;
    metrics_.count_finding(model::to_string(f.kind), model::to_string(f.severity),
                           c.pod ? c.pod->namespace_name.value_or("") : "",
                           c.pod ? c.pod->name.value_or("") : "", c.name.value_or(""));
}

void MetricsSink::events_counted(const pipeline::EventCounts& totals) {
    for (size_t k = 0; k < totals.size(); ++k) {
        if (totals[k] > counted_[k]) metrics_.add_events(static_cast<EventKind>(k), totals[k] - counted_[k]);
        counted_[k] = totals[k];
    }
}

void MetricsSink::stats(const pipeline::Stats& totals) {
    for (const auto& [reason, n] : totals.lost) metrics_.set_lost(reason, n);
    metrics_.set_tracked(totals.processes, totals.containers);
    for (const auto& [program, ns] : totals.bpf_run_time_ns) metrics_.set_bpf_run_time(program, ns / 1e9);
}

}  // namespace initwatch::report
