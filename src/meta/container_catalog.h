// Who a cgroup is: its path, the runtime's container id, the pod (from kubelet's log
// layout) and the story of repeated findings, on a node or a plain host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "meta/cgroup_resolver.h"
#include "meta/container.h"
#include "meta/docker_state.h"
#include "meta/kubelet_logs.h"
#include "meta/repeat_counter.h"

namespace initwatch::meta {

struct CatalogOptions {
    std::string host_root;  // where the host's / is mounted ("" for this root)
    std::string node_name;  // "" for $NODE_NAME, then the hostname
    std::string mountinfo_path = "/proc/self/mountinfo";
    // Cgroup paths of whole Kubernetes nodes running as containers whose pods are to be named (a kind
    // node seen from its host): see parse_cgroup_path. Empty: a node container is one container.
    std::vector<std::string> node_cgroup_roots = {};
    // dockerd's --data-root on the host (below host_root): names and images of docker containers.
    std::string docker_root = "/var/lib/docker";
};

class ContainerCatalog {
public:
    explicit ContainerCatalog(const CatalogOptions& options);

    // Pod and container names come from kubelet's logs only for a container of an anchored pod
    // cgroup (container_id.h), and only when the log's pod UID, if it has one, is that pod's.
    ContainerInfo describe(uint64_t cgroup_id, uint64_t now_ns);
    // Learns the cgroup's path while it exists (true once known), and a docker container's name
    // and image: a container's findings are described as it is torn down, and a short-lived
    // cgroup (or a `docker run --rm` container's state) may be gone by then.
    bool learn(uint64_t cgroup_id, uint64_t now_ns);
    // Records one more finding for the container and says how often it happened.
    // `story`: the kind of finding ("" for init exits); each kind counts its own repeats.
    RepeatInfo record_finding(const ContainerInfo& container, uint64_t now_ns, std::string_view story = "");

    // The cgroup's path is not known yet, but a walk asked for (this asks for one) may still
    // find it: a finding about it is worth holding a moment.
    bool identity_pending(uint64_t cgroup_id);
    // Waits (bounded) for the walk asked for or under way.
    void wait_for_walk(int timeout_ms) const { cgroups_.wait_idle(timeout_ms); }

    const std::string& cgroup2_root() const { return cgroups_.root(); }
    const std::string& node() const { return node_; }

private:
    CgroupResolver cgroups_;
    KubeletLogIndex pods_;
    DockerStateIndex docker_;
    RepeatCounter repeats_;
    std::string node_;
    std::vector<std::string> node_cgroup_roots_;
};

}  // namespace initwatch::meta
