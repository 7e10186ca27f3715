// Runtime container id (and Kubernetes pod UID and QoS class) from a cgroup v2 path, without asking
// any runtime. Only the innermost one or two path segments decide, so a container nested in another
// (kind nodes, Docker-in-Docker) resolves to the inner one.
//
// Recognised container segments (ids are 64 lowercase hex unless said otherwise):
//   cri-containerd-<id>.scope                   containerd (systemd driver)
//   <pod slice>:cri-containerd:<id>             containerd (kubelet systemd, runc cgroupfs)
//   crio-<id>.scope, crio-<id>                  cri-o (systemd, cgroupfs); crio-conmon-<id> is not
//   docker-<id>.scope, docker/<id>              docker (systemd, cgroupfs)
//   libpod-<id>.scope, libpod-<id>              podman (systemd, cgroupfs); libpod-conmon-<id> is not
//   runc-<name>.scope                           runc's systemd default; name in runc's [A-Za-z0-9_+.-]
//   kubepods[/qos]/pod<uid>/<id>                containerd (cgroupfs; cri-dockerd looks the same)
//   <namespace>/<id> at the top, namespace      containerd's default /<namespace>/<id> (ctr, nerdctl)
//     "default", "k8s.io" or "moby"
// A pod UID and QoS class come from the parent segment: a systemd pod slice
// [<prefix>-]kubepods[-<qos>]-pod<uid_with_underscores>.slice or a cgroupfs kubepods[/<qos>]/pod<uid>.
// The container segment may be followed by one sub-cgroup a container creates inside itself for its
// own processes: "container" (crun), "init.scope" (systemd as PID 1), "init" (Docker-in-Docker).
// Anything else below a container may be a nested container of an unknown layout, so it is unknown.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace initwatch::meta {

struct ContainerRef {
    std::string runtime;                 // "containerd", "cri-o", "docker", "podman", "runc"
    std::string id;                      // the runtime's container id
    std::optional<std::string> pod_uid;  // Kubernetes pod UID with dashes
    std::optional<std::string> qos;      // "guaranteed", "burstable", "besteffort" in a kubepods path
};

// From a cgroup v2 path relative to the cgroup2 root. nullopt for unknown layouts: never a wrong id.
std::optional<ContainerRef> parse_cgroup_path(std::string_view path);

}  // namespace initwatch::meta
