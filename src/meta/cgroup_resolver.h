// cgroup v2 id -> cgroup path. The id BPF reports is the inode of the cgroup's directory
// on the cgroup2 mount.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace initwatch::meta {

// The cgroup2 mount point from a mountinfo file ("" when there is none). With a host root
// (a DaemonSet mounting the host at /host), a cgroup2 mount under it is the host's and wins
// over the container's own, which a cgroup namespace may have narrowed.
std::string find_cgroup2_mount(const std::string& mountinfo_path = "/proc/self/mountinfo",
                               const std::string& host_root = "");

class CgroupResolver {
public:
    // `root` is the cgroup2 mount; "" disables resolution.
    explicit CgroupResolver(std::string root);

    // The path relative to the cgroup2 root ("/" for the root), or nullopt when unknown.
    // A miss rescans the hierarchy, at most once per `min_rescan_ns` of the caller's clock.
    std::optional<std::string> path_of(uint64_t cgroup_id, uint64_t now_ns);

    const std::string& root() const { return root_; }

private:
    void rescan();

    std::string root_;
    std::unordered_map<uint64_t, std::string> paths_;
    uint64_t last_scan_ns_ = 0;
    bool scanned_ = false;
    static constexpr uint64_t min_rescan_ns = 200'000'000;
};

}  // namespace initwatch::meta
