#include "report/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>

#include "util/utf8.h"

namespace initwatch::report {

namespace {

constexpr std::array<std::string_view, kEventKinds> kEventKindNames = {"fork",     "exec",   "exit",
                                                                       "snapshot", "signal", "oom_victim"};

// Prometheus rejects a whole scrape over one label value that is not UTF-8, so invalid
// bytes become U+FFFD (prometheus-cpp escapes only \\, \" and newlines). Done when a value
// is stored, so that two values differing only in invalid bytes share one series instead
// of rendering as two series with the same labels.
std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        uint32_t cp;
        if (const size_t n = util::decode_utf8(s, i, cp)) {
            out.append(s, i, n);
            i += n;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

// Brings a counter of a cumulative total (the kernel's, a program's run time) up to `total`.
void raise_to(prometheus::Counter& counter, double total) {
    if (total > counter.Value()) counter.Increment(total - counter.Value());
}

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;

}  // namespace

struct Metrics::Registry {
    explicit Registry(size_t max_sets) : max_finding_label_sets(max_sets) {}

    Family<Counter>& counters(const std::string& name, const std::string& help) {
        return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
    }
    Family<Gauge>& gauges(const std::string& name, const std::string& help) {
        return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
    }

    prometheus::Registry registry;
    const size_t max_finding_label_sets;

    Family<Counter>& events =
        counters("initwatch_events_total", "Process events applied to the model, by type.");
    Family<Counter>& lost = counters(
        "initwatch_lost_events_total",
        "Events the kernel side could not deliver, by reason; findings after a loss may be incomplete.");
    Family<Counter>& findings = counters(
        "initwatch_findings_total",
        "Findings by type: init_exit (a namespace init exited while processes it started still ran), "
        "worker_exit (a long-lived process init started ended while init lives on).");
    Counter& finding_label_sets_dropped =
        counters("initwatch_findings_label_sets_dropped_total",
                 "Findings counted under the _other label set because the label-set limit was reached.")
            .Add({});
    Family<Counter>& bpf_run_time =
        counters("initwatch_bpf_run_time_seconds_total",
                 "CPU time spent in each BPF program (needs kernel.bpf_stats_enabled=1).");
    Family<Counter>& kubernetes_events = counters(
        "initwatch_kubernetes_events_total",
        "Findings sent as Events to their pod, by result: created, patched (the series of the same "
        "failure again), recreated (its Event was gone: made again, the count carried on), fallback "
        "(PATCH forbidden: a new Event, the count in its note), filtered (spam filter), no_pod, failed "
        "(refused, or given up after retries).");
    Family<Counter>& termination_messages =
        counters("initwatch_termination_messages_total",
                 "Findings appended to their container's termination message, by result: written, shortened, "
                 "or why not (no_room, no_mount, device_mismatch, wrong_pod, symlink, ...).");
    Family<Gauge>& build_info =
        gauges("initwatch_build_info", "Always 1: the initwatch version and the running kernel.");
    Gauge& tracked_processes =
        gauges("initwatch_tracked_processes", "Processes in the model's process table.").Add({});
    Gauge& tracked_containers =
        gauges("initwatch_tracked_containers", "PID namespaces (containers) in the model.").Add({});
    std::array<Counter*, kEventKinds> event_counters = [this] {
        std::array<Counter*, kEventKinds> out{};
        for (size_t k = 0; k < kEventKinds; ++k)
            out[k] = &events.Add({{"type", std::string(kEventKindNames[k])}});
        return out;
    }();

    // Taken by the rarer updates and by the scrape, so that a scrape sees the findings and
    // the dropped count of the same moment.
    std::mutex mutex;
    size_t finding_label_sets = 0;  // series of `findings` other than the "_other" one
    std::map<std::string, Counter*, std::less<>> lost_by_reason;
    std::map<std::string, Counter*, std::less<>> run_time_by_program;
    std::map<std::string, Counter*, std::less<>> kubernetes_events_by_result;
    std::map<std::string, Counter*, std::less<>> termination_messages_by_result;
    Gauge* build_info_series = nullptr;
};

namespace {

// The series of one label value (a reason, a program), added the first time it is seen.
Counter& labelled(Family<Counter>& family, std::map<std::string, Counter*, std::less<>>& series,
                  std::string_view label, std::string_view value) {
    if (auto it = series.find(value); it != series.end()) return *it->second;
    Counter& counter = family.Add({{std::string(label), valid_utf8(value)}});
    series.emplace(std::string(value), &counter);
    return counter;
}

}  // namespace

Metrics::Metrics(size_t max_finding_label_sets)
    : registry_(std::make_unique<Registry>(max_finding_label_sets)) {}

Metrics::~Metrics() = default;

void Metrics::add_events(EventKind kind, uint64_t n) {
    registry_->event_counters[static_cast<size_t>(kind)]->Increment(static_cast<double>(n));
}

void Metrics::count_kubernetes_event(std::string_view result) {
    std::lock_guard lock(registry_->mutex);
    labelled(registry_->kubernetes_events, registry_->kubernetes_events_by_result, "result", result)
        .Increment();
}

void Metrics::count_termination_message(std::string_view result) {
    std::lock_guard lock(registry_->mutex);
    labelled(registry_->termination_messages, registry_->termination_messages_by_result, "result", result)
        .Increment();
}

void Metrics::count_finding(std::string_view type, std::string_view severity, std::string_view namespace_name,
                            std::string_view pod, std::string_view container) {
    const prometheus::Labels labels{{"type", valid_utf8(type)},
                                    {"severity", valid_utf8(severity)},
                                    {"namespace", valid_utf8(namespace_name)},
                                    {"pod", valid_utf8(pod)},
                                    {"container", valid_utf8(container)}};
    static const std::string kOther(kOverflowLabel);
    static const prometheus::Labels kOverflow{{"type", kOther},
                                              {"severity", kOther},
                                              {"namespace", kOther},
                                              {"pod", kOther},
                                              {"container", kOther}};
    Registry& r = *registry_;
    std::lock_guard lock(r.mutex);
    // A finding whose labels are all "_other" is counted in the overflow series, where it
    // would render anyway: it takes no label set.
    if (labels == kOverflow || r.findings.Has(labels)) {
        r.findings.Add(labels).Increment();
    } else if (r.finding_label_sets < r.max_finding_label_sets) {
        r.findings.Add(labels).Increment();
        ++r.finding_label_sets;
    } else {
        r.findings.Add(kOverflow).Increment();
        r.finding_label_sets_dropped.Increment();
    }
}

void Metrics::set_lost(std::string_view reason, uint64_t total) {
    std::lock_guard lock(registry_->mutex);
    raise_to(labelled(registry_->lost, registry_->lost_by_reason, "reason", reason),
             static_cast<double>(total));
}

void Metrics::set_tracked(size_t processes, size_t containers) {
    registry_->tracked_processes.Set(static_cast<double>(processes));
    registry_->tracked_containers.Set(static_cast<double>(containers));
}

void Metrics::set_bpf_run_time(std::string_view program, double seconds) {
    std::lock_guard lock(registry_->mutex);
    raise_to(labelled(registry_->bpf_run_time, registry_->run_time_by_program, "program", program), seconds);
}

void Metrics::set_build_info(std::string_view version, std::string_view kernel) {
    Registry& r = *registry_;
    std::lock_guard lock(r.mutex);
    if (r.build_info_series) r.build_info.Remove(r.build_info_series);
    r.build_info_series =
        &r.build_info.Add({{"version", valid_utf8(version)}, {"kernel", valid_utf8(kernel)}});
    r.build_info_series->Set(1);
}

std::string Metrics::exposition() const {
    std::vector<prometheus::MetricFamily> families;
    {
        std::lock_guard lock(registry_->mutex);
        families = registry_->registry.Collect();
    }
    // prometheus-cpp keeps a family's series in a hash map: sorted, one scrape reads like the next.
    for (auto& family : families)
        std::sort(family.metric.begin(), family.metric.end(),
                  [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
                      return a.label < b.label;
                  });
    return prometheus::TextSerializer().Serialize(families);
}

}  // namespace initwatch::report
