// cgroup v2 id -> cgroup path. The id BPF reports is the inode of the cgroup's directory on
// the cgroup2 mount; the path is found by walking that tree.
//
// A container allowed to create cgroups (Docker-in-Docker, kind, sysbox, a privileged pod)
// can make the tree huge, deep and fast-changing, so: the walk never runs on the event loop
// (CgroupResolver's own thread does it, asked by a miss, at most every min_rescan_ns); it is
// bounded in directories, depth and the bytes of its queue, and breadth first, so that a
// flood below one container hides no shallower cgroup; and the cache is bounded in bytes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "meta/mountinfo.h"

namespace initwatch::meta {

struct CgroupResolverLimits {
    uint64_t min_rescan_ns = 200'000'000;  // a miss walks the tree at most this often
    // A cgroup no longer in the tree keeps its path this long: the exits that matter arrive while
    // it is torn down, and the finding is described just after.
    uint64_t grace_ns = 60'000'000'000;
    // The cache, in bytes (paths and their entries). Beyond it, removed cgroups go first (longest
    // gone first), then the least recently seen, deepest first. A node of ~100 pods of a few
    // cgroups each needs some 100 KiB.
    size_t max_bytes = size_t{4} << 20;
    // One walk: the directories it visits and the bytes of paths it holds queued (one level of
    // the tree, breadth first). A flood of cgroups makes a walk skip there (truncated), not grow.
    size_t max_walk_entries = 65536;
    size_t max_walk_bytes = size_t{2} << 20;
    size_t max_depth = 32;  // levels below the root a walk descends; Kubernetes in kind needs 8
};

struct WalkStats {
    size_t directories = 0;  // visited
    size_t vanished = 0;     // removed while the walk read them (ENOENT, ESTALE, ...)
    bool truncated = false;  // max_walk_entries, max_walk_bytes or max_depth reached
};

// Walks the directory tree at `root` breadth first within `limits`, calling visit(id, path,
// depth) for each directory below it (path relative to root, with a leading '/'), and
// `stop()` between directories (true: end now, truncated).
WalkStats walk_cgroup_tree(
    const std::string& root, const CgroupResolverLimits& limits,
    const std::function<void(uint64_t id, const std::string& path, size_t depth)>& visit,
    const std::function<bool()>& stop = [] { return false; });

// The cache of paths by id, with the walk's bookkeeping. Not thread-safe: CgroupResolver
// guards it; tests use it directly.
class CgroupCache {
public:
    CgroupCache(CgroupResolverLimits limits, std::string prefix);

    std::optional<std::string> find(uint64_t id) const;
    void begin_walk() { ++walk_; }
    void see(uint64_t id, const std::string& relative_path, size_t depth, uint64_t now_ns,
             const std::unordered_set<uint64_t>& keep);
    // A walk ended: what a complete walk did not see is gone from now on; bounds applied.
    void end_walk(const WalkStats& stats, uint64_t now_ns, const std::unordered_set<uint64_t>& keep);

    size_t size() const { return paths_.size(); }
    size_t bytes() const { return bytes_; }
    static size_t entry_bytes(const std::string& path);

private:
    struct Entry {
        std::string path;
        uint64_t seen_ns;    // the time of the last walk that saw it
        uint64_t seen_walk;  // and its number
        uint64_t gone_ns;    // the first complete walk that did not; 0 while present
        size_t depth;
    };
    void forget(uint64_t now_ns, const std::unordered_set<uint64_t>& keep);

    CgroupResolverLimits limits_;
    std::string prefix_;  // the cgroup the walked directory is: "" for the whole hierarchy
    std::unordered_map<uint64_t, Entry> paths_;
    size_t bytes_ = 0;
    uint64_t walk_ = 0;
};

class CgroupResolver {
public:
    // `root` is the cgroup2 mount (or any directory tree standing in for one); "" disables
    // resolution. `root_path` is the cgroup that directory is: "/" for a mount of the whole
    // hierarchy, "/a/b" for a bind mount of a subtree (mountinfo's root field), so that paths
    // are whole either way.
    explicit CgroupResolver(std::string root, CgroupResolverLimits limits = {}, std::string root_path = "/");
    // The mount find_cgroup2 chose (none: resolution disabled). A root field with ".." in it
    // names a cgroup outside this process's cgroup namespace, which has no path here: paths are
    // then relative to the mount, as for "/".
    explicit CgroupResolver(const std::optional<Mount>& cgroup2, CgroupResolverLimits limits = {});
    // Ends a walk in progress at its next directory and joins the walker (cgroupfs reads do
    // not block: the tree is in memory).
    ~CgroupResolver();
    CgroupResolver(const CgroupResolver&) = delete;
    CgroupResolver& operator=(const CgroupResolver&) = delete;

    // The path relative to the cgroup2 root ("/" for the root), or nullopt while unknown. Never
    // waits: a miss asks the walker for a walk (walks start at most once per min_rescan_ns)
    // that will remember this id's path.
    std::optional<std::string> path_of(uint64_t cgroup_id);
    // A walk asked for has not ended yet: a miss may still be answered.
    bool walking() const;
    // Waits (at most `timeout_ms`) until no walk is asked for or under way; false on timeout.
    bool wait_idle(int timeout_ms) const;

    const std::string& root() const { return root_; }
    size_t size() const;
    size_t bytes() const;
    WalkStats last_walk() const;
    uint64_t walks() const;

private:
    void work();

    std::string root_;
    CgroupResolverLimits limits_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;  // a walk asked for, finished, or stop
    CgroupCache cache_;
    std::unordered_set<uint64_t> wanted_;  // missed since the last walk began: kept whatever the bounds
    std::chrono::steady_clock::time_point last_start_{};
    bool requested_ = false;
    bool walking_ = false;
    bool stopping_ = false;
    WalkStats last_walk_;
    uint64_t walks_ = 0;
    std::thread worker_;  // last: started when everything above exists
};

// The tightest memory.max of cgroup `path` (relative to the cgroup2 mount `root`) and its
// ancestors, in bytes: the limit an OOM kill in it ran into. On a hybrid host without a v2
// memory controller, memory.limit_in_bytes of the same path in the v1 memory hierarchy.
// Unset when there is no limit or none can be read (the cgroup is gone).
std::optional<uint64_t> memory_limit(const std::string& root, const std::string& path,
                                     const std::string& mountinfo_path = "/proc/self/mountinfo");

}  // namespace initwatch::meta
