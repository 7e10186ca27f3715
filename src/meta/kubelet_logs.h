// Pod namespace, pod name, pod UID and container name of a runtime container id, without
// credentials or an API server: kubelet names every container's log after them.
//   /var/log/containers/<pod>_<namespace>_<container>-<container id>.log   (a symlink, to)
//   /var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart>.log
// Only /var/log/containers is read: the link's name, and the TEXT of the link (readlink), which
// spells the pod UID. The target is never followed, opened or listed, so /var/log/pods (every pod's
// logs) need not be mounted. A link whose text does not say the same namespace, pod and container
// gives no UID.
// Pod names, namespaces and container names are DNS names: never an underscore, so the fields split
// on '_', and the id is the last '-'-separated field before ".log".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "util/throttled_rescan.h"

namespace initwatch::meta {

struct PodInfo {
    std::string namespace_name, pod_name, pod_uid, container_name;  // pod_uid "" when unknown
};

struct ContainerLogLink {
    PodInfo pod;  // without pod_uid: the link's name does not carry it
    std::string container_id;
};

// "<pod>_<namespace>_<container>-<64 hex>.log", or nullopt.
std::optional<ContainerLogLink> parse_container_log_name(std::string_view file_name);

// The pod UID in a link's text ".../<namespace>_<pod>_<uid>/<container>/<n>.log" (absolute or relative)
// when its namespace, pod and container are `pod`'s; "" otherwise.
std::string pod_uid_from_link_text(std::string_view text, const PodInfo& pod);

struct KubeletLogLimits {
    uint64_t min_rescan_ns = 500'000'000;
    // Containers whose logs are gone are kept this long: their last exits arrive during teardown.
    uint64_t grace_ns = 600'000'000'000;
    size_t max_entries = 16384;
    // One scan reads at most this many directory entries; kubelet's links are ~450 bytes at most
    // (DNS names of 63 and 253 characters), a longer link text is not kubelet's.
    size_t max_scan_entries = 32768;
    size_t max_link_bytes = 1024;
};

class KubeletLogIndex {
public:
    // `host_root`: where the host's / is mounted ("" or "/" means the real root).
    explicit KubeletLogIndex(std::string host_root, KubeletLogLimits limits = {});

    // By runtime container id; a miss rescans the directories when var/log/containers changed,
    // else at most once per min_rescan_ns of the caller's clock.
    std::optional<PodInfo> lookup(const std::string& container_id, uint64_t now_ns);

    size_t size() const { return entries_.size(); }

private:
    struct Entry {
        PodInfo pod;
        uint64_t last_seen_ns;
    };

    void rescan(uint64_t now_ns);
    void forget_old(uint64_t now_ns);

    std::string root_;  // without a trailing '/'
    KubeletLogLimits limits_;
    std::unordered_map<std::string, Entry> entries_;
    util::ThrottledRescan rescans_;  // versioned by the mtime of var/log/containers
};

}  // namespace initwatch::meta
