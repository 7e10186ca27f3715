#include "cli/session.h"

#include <initwatch/error.h>
#include <initwatch/version.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "k8s/events_sink.h"
#include "k8s/secret_mask.h"
#include "k8s/termination_message.h"
#include "pipeline/queued_sink.h"
#include "report/metrics_sink.h"
#include "util/errno_text.h"

namespace initwatch::cli {

namespace {

pipeline::PipelineOptions pipeline_options(const Options& o) {
    pipeline::PipelineOptions p;
    p.probe = probe::ProbeOptions{o.ring_buffer_bytes, o.btf_path, o.exit_probe};
    p.limits.max_memory_bytes = o.max_memory_bytes;
    p.limits.max_processes = o.max_processes;
    p.limits.max_listed = o.max_listed;
    p.limits.worker_min_age_ns = static_cast<uint64_t>(o.worker_min_age_s * 1e9);
    p.catalog = meta::CatalogOptions{o.host_root, o.node_name, "/proc/self/mountinfo", {}, o.docker_root};
    p.redact = o.redact;
    p.redact_next_after = o.redact_next_after;
    return p;
}

// Text for a person at a terminal, JSON lines for `watch` into a pipe or a file.
std::unique_ptr<report::Output> make_output(const Options& o) {
    const bool to_stdout = o.output_path.empty() || o.output_path == "-";
    std::FILE* f = to_stdout ? stdout : std::fopen(o.output_path.c_str(), "we");
    if (!f) throw Error("cannot write to " + o.output_path + ": " + util::errno_text(errno));
    const bool json = o.format == Format::json ||
                      (o.format == Format::automatic && o.command == Command::watch && !isatty(fileno(f)));
    const bool color =
        o.color == ColorMode::always ||
        (o.color == ColorMode::automatic && isatty(fileno(f)) && std::getenv("NO_COLOR") == nullptr);
    const std::string name = to_stdout ? "stdout" : o.output_path;
    std::unique_ptr<report::Output> out =
        json ? report::make_json_output(f, name) : report::make_text_output(f, color, name);
    if (!to_stdout) out->close_on_destroy();
    out->print_events(o.events);
    return out;
}

model::Severity parse_severity(const std::string& s) {
    return s == "error"     ? model::Severity::error
           : s == "warning" ? model::Severity::warning
                            : model::Severity::info;
}

}  // namespace

// Events and termination messages are readable by whoever may `get events`/`get pods`.
std::unique_ptr<pipeline::Sink> Session::cluster_visible(std::unique_ptr<pipeline::Sink> sink) const {
    if (unmask_cluster_secrets_) return sink;
    return std::make_unique<k8s::SecretMaskingSink>(std::move(sink));
}

Session::Session(const Options& options)
    : unmask_cluster_secrets_(options.unmask_cluster_secrets),
      output_(make_output(options)),
      kube_(options.kubernetes_events ? std::make_optional(k8s::find_config(options.kubeconfig))
                                      : std::nullopt),
      pipeline_(pipeline_options(options)) {
    pipeline_.add_sink(std::move(output_), parse_severity(options.min_severity));
    pipeline_.add_sink(std::make_unique<report::MetricsSink>(metrics_));  // every finding counted
    if (kube_) {
        // Warning and error only: a stop (info) is no crash loop. Behind a queue: the API may hang.
        auto events = std::make_unique<k8s::EventsSink>(
            *kube_, k8s::EventsOptions{},
            [this](std::string_view result) { metrics_.count_kubernetes_event(result); });
        pipeline_.add_sink(std::make_unique<pipeline::QueuedSink>(cluster_visible(std::move(events))),
                           model::Severity::warning);
    }
    if (options.termination_message) {
        k8s::TerminationMessageOptions termination;
        termination.host_root = options.host_root;
        termination.kubelet_root = options.kubelet_root_dir;
        termination.on_result = [this](k8s::TermResult r) {
            metrics_.count_termination_message(k8s::to_string(r));
        };
        pipeline_.add_sink(
            cluster_visible(std::make_unique<k8s::TerminationMessageSink>(std::move(termination))));
    }
    utsname uts{};
    uname(&uts);
    metrics_.set_build_info(kVersion, uts.release);
    if (!options.metrics_address.empty()) {
        http_ = std::make_unique<http::HttpEndpoint>(options.metrics_address, metrics_, pipeline_.health());
        spdlog::info("serving /metrics, /healthz and /readyz on port {}", http_->port());
    }
    pipeline_.start();
}

}  // namespace initwatch::cli
