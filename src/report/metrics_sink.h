// Metrics as a sink: findings by severity and pod, events by kind, what was lost, the
// process table's size and the BPF programs' run time, into report::Metrics (which the
// HTTP endpoint serves).
#pragma once

#include "pipeline/sink.h"
#include "report/metrics.h"

namespace initwatch::report {

class MetricsSink final : public pipeline::Sink {
public:
    // `metrics` must outlive the sink.
    explicit MetricsSink(Metrics& metrics) : metrics_(metrics) {}

    void finding(const model::Finding& f, const meta::FindingContext& context) override;
    bool takes_every_finding() const override { return true; }
    void events_counted(const pipeline::EventCounts& totals) override;
    void stats(const pipeline::Stats& totals) override;

private:
    Metrics& metrics_;
    pipeline::EventCounts counted_{};
};

}  // namespace initwatch::report
