// What `watch` and `run` share: the command line turned into a pipeline with its sinks
// (text or JSON lines, metrics) and, with --metrics-address, the HTTP endpoint.
#pragma once

#include <memory>
#include <optional>

#include "cli/options.h"
#include "http/endpoint.h"
#include "k8s/kube_config.h"
#include "pipeline/pipeline.h"
#include "report/metrics.h"
#include "report/output.h"

namespace initwatch::cli {

class Session {
public:
    // Attaches the probes, opens the output, serves the endpoint, takes the startup
    // snapshot. Throws initwatch::Error with a one-line reason.
    explicit Session(const Options& options);

    pipeline::Pipeline& pipeline() { return pipeline_; }

private:
    std::unique_ptr<pipeline::Sink> cluster_visible(std::unique_ptr<pipeline::Sink> sink) const;

    bool unmask_cluster_secrets_;
    report::Metrics metrics_;  // outlives the pipeline's metrics sink and the endpoint
    // Opened before the probes are loaded (a bad path fails first), then the pipeline's.
    std::unique_ptr<report::Output> output_;
    std::optional<k8s::ClusterConfig> kube_;  // with --kubernetes-events; found before BPF is loaded too
    pipeline::Pipeline pipeline_;
    std::unique_ptr<http::HttpEndpoint> http_;
};

}  // namespace initwatch::cli
