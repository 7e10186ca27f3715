// cgroup v2 id -> cgroup path. The id BPF reports is the inode of the cgroup's directory
// on the cgroup2 mount.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "meta/mountinfo.h"
#include "util/throttled_rescan.h"

namespace initwatch::meta {

// Bounds of the cache and of one walk of the hierarchy: a container allowed to create cgroups can
// create many, and deep ones.
struct CgroupResolverLimits {
    uint64_t min_rescan_ns = 200'000'000;  // a miss walks the tree at most this often
    // A cgroup no longer in the tree keeps its path this long: the exits that matter arrive while
    // it is torn down, and the finding is described just after.
    uint64_t grace_ns = 60'000'000'000;
    // Cached cgroups. Beyond it, removed ones go first (longest gone first), then the least
    // recently seen, deepest first. A node runs ~100 pods of a few cgroups each.
    size_t max_entries = 16384;
    // Directories one walk visits, breadth first so that a flood below one container's cgroup does
    // not hide the node's own, shallower ones (a pod's container is 4 levels down).
    size_t max_walk_entries = 65536;
    size_t max_depth = 32;  // levels below the root a walk descends; Kubernetes in kind needs 8
};

class CgroupResolver {
public:
    // `root` is the cgroup2 mount (or any directory tree standing in for one); "" disables resolution.
    // `root_path` is the cgroup that directory is: "/" for a mount of the whole hierarchy, "/a/b"
    // for a bind mount of a subtree (mountinfo's root field), so that paths are whole either way.
    explicit CgroupResolver(std::string root, CgroupResolverLimits limits = {}, std::string root_path = "/");
    // The mount find_cgroup2 chose (none: resolution disabled). A root field with ".." in it names
    // a cgroup outside this process's cgroup namespace, which has no path here: paths are then
    // relative to the mount, as for "/".
    explicit CgroupResolver(const std::optional<Mount>& cgroup2, CgroupResolverLimits limits = {});

    // The path relative to the cgroup2 root ("/" for the root), or nullopt when unknown.
    // A miss rescans the hierarchy, at most once per min_rescan_ns of the caller's clock.
    std::optional<std::string> path_of(uint64_t cgroup_id, uint64_t now_ns);

    const std::string& root() const { return root_; }
    size_t size() const { return paths_.size(); }

    struct WalkStats {
        size_t directories = 0;  // visited
        size_t vanished = 0;     // removed while the walk read them (ENOENT, ESTALE, ...)
        bool truncated = false;  // max_walk_entries or max_depth reached
    };
    const WalkStats& last_walk() const { return last_walk_; }

private:
    struct Entry {
        std::string path;
        uint64_t seen_ns;    // the time of the last walk that saw it
        uint64_t seen_walk;  // and its number
        uint64_t gone_ns;    // the first complete walk that did not; 0 while present
        size_t depth;
    };

    // Walks the tree; `wanted` stays in the cache whatever the bounds.
    void rescan(uint64_t wanted, uint64_t now_ns);
    void see(uint64_t id, const std::string& path, size_t depth, uint64_t now_ns);
    void forget(uint64_t keep, uint64_t now_ns);

    std::string root_;
    std::string prefix_;  // root_path without its trailing '/': "" for the whole hierarchy
    CgroupResolverLimits limits_;
    std::unordered_map<uint64_t, Entry> paths_;
    WalkStats last_walk_;
    uint64_t walk_ = 0;
    util::ThrottledRescan rescans_;
};

}  // namespace initwatch::meta
