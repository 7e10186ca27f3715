// The identifiers initwatch takes from what a container or a node's files say — container
// ids, pod UIDs, container names — checked in one place, by the rules of whoever makes them.
#pragma once

#include <string_view>

namespace initwatch::util {

// Lowercase hexadecimal digits, at least one.
bool is_lower_hex(std::string_view s);
// A runtime's full container id: 64 lowercase hex digits (containerd, CRI-O, Docker, podman).
bool is_container_id(std::string_view s);
// A Kubernetes pod UID: a lowercase UUID (8-4-4-4-12) as the API server makes them, or the
// 32 hex digits kubelet gives a static pod.
bool is_pod_uid(std::string_view s);
// A Kubernetes container name: an RFC 1123 DNS label (lowercase alphanumerics and '-', not
// at either end, at most 63).
bool is_dns_label(std::string_view s);

}  // namespace initwatch::util
