#include "report/metrics.h"

#include <charconv>
#include <cmath>
#include <initializer_list>

#include "util/utf8.h"

namespace initwatch::report {

namespace {

constexpr std::array<std::string_view, kEventKinds> kEventKindNames = {"fork", "exec", "exit", "snapshot"};

// Prometheus rejects a whole scrape over one label value that is not UTF-8, so invalid
// bytes become U+FFFD. Done when a value is stored, not when it is rendered, so that two
// values differing only in invalid bytes share one series instead of rendering as two
// series with the same labels.
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

// The three escapes the text format defines for label values.
void append_label_value(std::string& out, std::string_view value) {
    for (char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[32];
    const auto result = std::to_chars(buf, buf + sizeof buf, v);  // shortest round trip, no locale
    return std::string(buf, result.ptr);
}

struct Label {
    std::string_view name;
    std::string_view value;
};

void append_family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void append_sample(std::string& out, std::string_view name, std::initializer_list<Label> labels,
                   std::string_view value) {
    out.append(name);
    if (labels.size()) {
        out += '{';
        bool first = true;
        for (const Label& l : labels) {
            if (!first) out += ',';
            first = false;
            out.append(l.name).append("=\"");
            append_label_value(out, l.value);
            out += '"';
        }
        out += '}';
    }
    out.append(" ").append(value).append("\n");
}

// Sets the value of one label (a reason, a program), adding it the first time it is seen.
template <typename Value>
void set_labelled(std::map<std::string, Value, std::less<>>& values, std::string_view label, Value value) {
    if (auto it = values.find(label); it != values.end())
        it->second = value;
    else
        values.emplace(valid_utf8(label), value);
}

}  // namespace

Metrics::Metrics(size_t max_finding_label_sets) : max_finding_label_sets_(max_finding_label_sets) {}

void Metrics::count_finding(std::string_view severity, std::string_view namespace_name, std::string_view pod,
                            std::string_view container) {
    FindingLabels labels{valid_utf8(severity), valid_utf8(namespace_name), valid_utf8(pod),
                         valid_utf8(container)};
    const bool is_overflow_set =
        labels == FindingLabels{std::string(kOverflowLabel), std::string(kOverflowLabel),
                                std::string(kOverflowLabel), std::string(kOverflowLabel)};
    std::lock_guard lock(mutex_);
    if (is_overflow_set) {
        ++findings_overflow_;  // the same series the overflow renders as: never a duplicate
        return;
    }
    if (auto it = findings_.find(labels); it != findings_.end()) {
        ++it->second;
    } else if (findings_.size() < max_finding_label_sets_) {
        findings_.emplace(std::move(labels), 1);
    } else {
        ++findings_overflow_;
        ++finding_label_sets_dropped_;
    }
}

void Metrics::set_lost(std::string_view reason, uint64_t total) {
    std::lock_guard lock(mutex_);
    set_labelled(lost_, reason, total);
}

void Metrics::count_kubernetes_event(std::string_view result) {
    std::lock_guard lock(mutex_);
    auto it = kubernetes_events_.find(result);
    if (it == kubernetes_events_.end()) it = kubernetes_events_.emplace(std::string(result), 0).first;
    ++it->second;
}

void Metrics::set_tracked(size_t processes, size_t containers) {
    tracked_processes_.store(processes, std::memory_order_relaxed);
    tracked_containers_.store(containers, std::memory_order_relaxed);
}

void Metrics::set_bpf_run_time(std::string_view program, double seconds) {
    std::lock_guard lock(mutex_);
    set_labelled(bpf_run_time_, program, seconds);
}

void Metrics::set_build_info(std::string_view version, std::string_view kernel) {
    std::lock_guard lock(mutex_);
    version_ = valid_utf8(version);
    kernel_ = valid_utf8(kernel);
    has_build_info_ = true;
}

std::string Metrics::exposition() const {
    std::string out;
    out.reserve(4096);
    std::lock_guard lock(mutex_);

    if (has_build_info_) {
        append_family(out, "initwatch_build_info", "gauge",
                      "Always 1: the initwatch version and the running kernel.");
        append_sample(out, "initwatch_build_info", {{"version", version_}, {"kernel", kernel_}}, "1");
    }

    append_family(out, "initwatch_events_total", "counter", "Process events applied to the model, by type.");
    for (size_t k = 0; k < kEventKinds; ++k)
        append_sample(out, "initwatch_events_total", {{"type", kEventKindNames[k]}},
                      std::to_string(events_[k].load(std::memory_order_relaxed)));

    append_family(
        out, "initwatch_lost_events_total", "counter",
        "Events the kernel side could not deliver, by reason; findings after a loss may be incomplete.");
    for (const auto& [reason, total] : lost_)
        append_sample(out, "initwatch_lost_events_total", {{"reason", reason}}, std::to_string(total));

    if (!kubernetes_events_.empty()) {
        append_family(out, "initwatch_kubernetes_events_total", "counter",
                      "Findings sent as Events to the pod, by result: created, patched (the series of the "
                      "same failure again), filtered (spam filter), no_pod, failed (gave up after retries).");
        for (const auto& [result, n] : kubernetes_events_)
            append_sample(out, "initwatch_kubernetes_events_total", {{"result", result}}, std::to_string(n));
    }

    append_family(out, "initwatch_findings_total", "counter",
                  "Namespace inits that exited while processes they started were still running.");
    for (const auto& [l, count] : findings_)
        append_sample(out, "initwatch_findings_total",
                      {{"severity", l[0]}, {"namespace", l[1]}, {"pod", l[2]}, {"container", l[3]}},
                      std::to_string(count));
    if (findings_overflow_)
        append_sample(out, "initwatch_findings_total",
                      {{"severity", kOverflowLabel},
                       {"namespace", kOverflowLabel},
                       {"pod", kOverflowLabel},
                       {"container", kOverflowLabel}},
                      std::to_string(findings_overflow_));

    append_family(out, "initwatch_findings_label_sets_dropped_total", "counter",
                  "Findings counted under the _other label set because the label-set limit was reached.");
    append_sample(out, "initwatch_findings_label_sets_dropped_total", {},
                  std::to_string(finding_label_sets_dropped_));

    append_family(out, "initwatch_tracked_processes", "gauge", "Processes in the model's process table.");
    append_sample(out, "initwatch_tracked_processes", {},
                  std::to_string(tracked_processes_.load(std::memory_order_relaxed)));
    append_family(out, "initwatch_tracked_containers", "gauge", "PID namespaces (containers) in the model.");
    append_sample(out, "initwatch_tracked_containers", {},
                  std::to_string(tracked_containers_.load(std::memory_order_relaxed)));

    append_family(out, "initwatch_bpf_run_time_seconds_total", "counter",
                  "CPU time spent in each BPF program (needs kernel.bpf_stats_enabled=1).");
    for (const auto& [program, seconds] : bpf_run_time_)
        append_sample(out, "initwatch_bpf_run_time_seconds_total", {{"program", program}},
                      format_value(seconds));
    return out;
}

}  // namespace initwatch::report
