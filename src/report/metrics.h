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
#include "pipeline/sink.h"

namespace initwatch::report {

using pipeline::EventKind;
using pipeline::kEventKinds;

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

    void add_events(EventKind kind, uint64_t n);
    // What became of a finding sent to the Kubernetes API (a fixed, small set of results).
    void count_kubernetes_event(std::string_view result);
    // What became of a finding appended to a container's termination message.
    void count_termination_message(std::string_view result);

    // Empty strings are fine where the pod is not known (Prometheus treats them as absent).
    // type: init_exit or worker_exit.
    void count_finding(std::string_view type, std::string_view severity, std::string_view namespace_name,
                       std::string_view pod, std::string_view container);
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

}  // namespace initwatch::report
