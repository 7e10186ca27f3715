// What is known of the container a finding is about.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace initwatch::meta {

struct PodRef {
    std::optional<std::string> name;
    std::optional<std::string> namespace_name;
    std::optional<std::string> uid;
};

struct ContainerInfo {
    uint64_t cgroup_id = 0;
    std::optional<std::string> cgroup_path;  // relative to the cgroup2 mount
    std::optional<std::string> id;           // the runtime's container id
    std::optional<std::string> runtime;      // "containerd", "cri-o", "docker", "podman", "runc"
    std::optional<std::string> name;         // Kubernetes container name; docker's container name
    std::optional<std::string> image;        // docker: the image it runs, as `docker run` was given it
    std::optional<PodRef> pod;
};

// The same container failing again: the count of findings in its story.
struct RepeatInfo {
    uint32_t count = 1;  // 1 for the first finding
    std::optional<uint64_t> since_first_ns;
    std::string text;  // "" for the first, else "3rd time in 2m05s"
};

// Everything a reporter prints beside the model's finding.
struct FindingContext {
    ContainerInfo container;
    // The container of the process that sent the fatal signal (Finding::killed_by), unset for
    // a process of the node (kubelet, containerd-shim, runc) or when no process sent it.
    std::optional<ContainerInfo> killer_container;
    std::string node;
    RepeatInfo repeat;
};

}  // namespace initwatch::meta
