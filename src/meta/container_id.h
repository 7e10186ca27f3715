// Runtime container id (and Kubernetes pod UID and QoS class) from a cgroup v2 path, without asking
// any runtime.
//
// Identity is anchored, because a container allowed to create cgroups (Docker-in-Docker, kind, sysbox,
// privileged pods) controls every name below its own cgroup: it can make
// ".../kubepods/pod<victim-uid>/<victim-id>" there. So:
//   - The OUTERMOST recognised container of a path is its identity: everything below a container's
//     cgroup (its own sub-cgroups, nested containers, a forged kubepods tree) is that container's.
//   - A pod UID comes only from a kubepods hierarchy anchored where a node's kubelet puts it:
//       /kubepods[/<qos>]/pod<uid>/...                              cgroupfs, kubelet cgroupRoot "/"
//       /kubepods.slice/[kubepods-<qos>.slice/]kubepods[-<qos>]-pod<uid_>.slice/...   systemd, "/"
//       /kubelet/kubepods/...  and  /kubelet.slice/kubelet-kubepods.slice/...   cgroupRoot "/kubelet":
//                                                  kind's, seen by an agent running inside the kind node
//       /system.slice/containerd.service/kubepods[-<qos>]-pod<uid_>.slice:cri-containerd:<id>
//                                                  kubelet's systemd names taken literally by runc cgroupfs
//     Every slice or directory of the chain is checked, not only the pod's.
//   - A whole node running as a container (kind or k3d nodes seen from their host, minikube's docker
//     driver) is one container, the node's, unless its cgroup is given as a node root: then the path
//     below it is read as that node's own hierarchy, anchored as above (the node container itself and
//     its non-pod cgroups stay the node container's).
// Below an unrecognised cgroup (a custom runc cgroupsPath, a CI job's cgroup) nothing is anchored: a
// bare id there is unknown, and a named scope gives a container id without a pod.
//
// Recognised container segments (ids are 64 lowercase hex unless said otherwise):
//   cri-containerd-<id>.scope                   containerd (systemd driver)
//   <pod slice>:cri-containerd:<id>             containerd (kubelet systemd, runc cgroupfs)
//   crio-<id>.scope, crio-<id>                  cri-o (systemd, cgroupfs); crio-conmon-<id> is not
//   docker-<id>.scope, /docker/<id>             docker (systemd, cgroupfs at the top)
//   libpod-<id>.scope, libpod-<id>              podman (systemd, cgroupfs); libpod-conmon-<id> is not
//   runc-<name>.scope                           runc's systemd default; name in runc's [A-Za-z0-9_+.-]
//   <anchored kubepods pod directory>/<id>      containerd (cgroupfs; cri-dockerd looks the same)
//   /<namespace>/<id> at the top, namespace     containerd's default /<namespace>/<id> (ctr, nerdctl)
//     "default", "k8s.io" or "moby"
// Non-Kubernetes ids (docker, podman, ctr, runc) are not anchored: a process that can create cgroups
// outside any recognised container can name one; it never gets a pod from that.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace initwatch::meta {

struct ContainerRef {
    std::string runtime;                 // "containerd", "cri-o", "docker", "podman", "runc"
    std::string id;                      // the runtime's container id
    std::optional<std::string> pod_uid;  // Kubernetes pod UID with dashes, only from an anchored path
    std::optional<std::string> qos;      // "guaranteed", "burstable", "besteffort", with pod_uid
};

// From a cgroup v2 path relative to the cgroup2 root. nullopt for unknown layouts: never a wrong id.
// `node_roots`: cgroup paths (relative to the same root) of trusted nodes running as containers, e.g.
// "/system.slice/docker-<kind node id>.scope"; the longest one that is a proper prefix applies.
std::optional<ContainerRef> parse_cgroup_path(std::string_view path);
std::optional<ContainerRef> parse_cgroup_path(std::string_view path,
                                              const std::vector<std::string>& node_roots);

}  // namespace initwatch::meta
