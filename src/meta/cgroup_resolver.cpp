#include "meta/cgroup_resolver.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <vector>

#include "util/time.h"

namespace initwatch::meta {

namespace {

// The cgroup a mount's root field names, or "/" when it is outside this cgroup namespace.
std::string mounted_cgroup(const std::optional<Mount>& m) {
    if (!m || m->root.empty() || m->root[0] != '/') return "/";
    const std::string r = m->root + "/";
    return r.find("/../") == std::string::npos ? m->root : "/";
}

// Breadth first: the node's own cgroups (shallow) before what containers create below theirs.
struct Pending {
    std::string path;  // relative to the root, "" for the root itself
    size_t depth;
};

// A directory that may be removed at any moment (a container torn down): every error is "it is gone".
class Directory {
public:
    explicit Directory(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return;
        dir_ = ::fdopendir(fd);
        if (!dir_) ::close(fd);
    }
    ~Directory() {
        if (dir_) ::closedir(dir_);
    }
    Directory(const Directory&) = delete;
    Directory& operator=(const Directory&) = delete;

    bool is_open() const { return dir_ != nullptr; }
    int fd() const { return ::dirfd(dir_); }
    // The next entry that may be a directory (not "." or ".."), or nullptr at the end or on an error
    // (errno set then).
    const char* next() {
        for (errno = 0; const dirent* e = ::readdir(dir_); errno = 0) {
            const char* n = e->d_name;
            if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
            if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) return n;
        }
        return nullptr;
    }

private:
    DIR* dir_ = nullptr;
};

// What a cached entry costs beside its path's characters: the node of the map (key, value,
// next pointer, cached hash), a bucket, and the string's own allocation header.
constexpr size_t kEntryOverhead = 96;

}  // namespace

WalkStats walk_cgroup_tree(const std::string& root, const CgroupResolverLimits& limits,
                           const std::function<void(uint64_t, const std::string&, size_t)>& visit,
                           const std::function<bool()>& stop) {
    WalkStats stats;
    std::deque<Pending> pending;
    size_t pending_bytes = 0;
    pending.push_back({"", 0});
    struct stat st {};
    bool full = false;  // max_walk_entries visited: the walk ends
    while (!pending.empty() && !full) {
        if (stop()) {
            stats.truncated = true;
            break;
        }
        const Pending dir = std::move(pending.front());
        pending.pop_front();
        pending_bytes -= dir.path.size();
        Directory d(root + dir.path);
        if (!d.is_open()) {
            ++stats.vanished;
            continue;
        }
        while (const char* name = d.next()) {
            if (::fstatat(d.fd(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                ++stats.vanished;
                continue;
            }
            if (!S_ISDIR(st.st_mode)) continue;
            if (stats.directories == limits.max_walk_entries) {
                stats.truncated = full = true;
                break;
            }
            ++stats.directories;
            std::string path = dir.path + "/" + name;
            visit(st.st_ino, path, dir.depth + 1);
            if (dir.depth + 1 >= limits.max_depth || pending_bytes + path.size() > limits.max_walk_bytes) {
                stats.truncated = true;  // seen, but not descended into
                continue;
            }
            pending_bytes += path.size();
            pending.push_back({std::move(path), dir.depth + 1});
        }
        if (errno != 0) ++stats.vanished;  // readdir failed: what it had not listed yet is skipped
    }
    return stats;
}

CgroupCache::CgroupCache(CgroupResolverLimits limits, std::string prefix)
    : limits_(limits), prefix_(std::move(prefix)) {
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
}

size_t CgroupCache::entry_bytes(const std::string& path) { return kEntryOverhead + path.capacity(); }

std::optional<std::string> CgroupCache::find(uint64_t id) const {
    if (auto it = paths_.find(id); it != paths_.end()) return it->second.path;
    return std::nullopt;
}

void CgroupCache::see(uint64_t id, const std::string& relative_path, size_t depth, uint64_t now_ns,
                      const std::unordered_set<uint64_t>& keep) {
    const std::string path =
        relative_path.empty() ? (prefix_.empty() ? "/" : prefix_) : prefix_ + relative_path;
    auto [it, inserted] = paths_.try_emplace(id);
    Entry& e = it->second;
    if (inserted || e.path != path) {
        if (!inserted) bytes_ -= entry_bytes(e.path);
        e.path = path;
        bytes_ += entry_bytes(e.path);
    }
    e.seen_ns = now_ns;
    e.seen_walk = walk_;
    e.gone_ns = 0;
    e.depth = depth;
    // Past the bound by an eighth within a walk: make room now (down to the bound) rather than
    // at its end.
    if (bytes_ > limits_.max_bytes + limits_.max_bytes / 8) forget(now_ns, keep);
}

void CgroupCache::end_walk(const WalkStats& stats, uint64_t now_ns,
                           const std::unordered_set<uint64_t>& keep) {
    // Only a walk that saw the whole tree can tell that a cgroup is gone.
    if (!stats.truncated)
        for (auto& [id, e] : paths_)
            if (e.seen_walk != walk_ && e.gone_ns == 0) e.gone_ns = now_ns;
    forget(now_ns, keep);
}

// Removed cgroups keep their entry for the grace period, then go; beyond max_bytes the ones gone
// longest, then the least recently seen (deepest first: a flood is deep) go first. `keep` stays.
void CgroupCache::forget(uint64_t now_ns, const std::unordered_set<uint64_t>& keep) {
    for (auto it = paths_.begin(); it != paths_.end();) {
        const Entry& e = it->second;
        if (e.gone_ns != 0 && now_ns - e.gone_ns > limits_.grace_ns && !keep.count(it->first)) {
            bytes_ -= entry_bytes(e.path);
            it = paths_.erase(it);
        } else {
            ++it;
        }
    }
    if (bytes_ <= limits_.max_bytes) return;
    struct Victim {
        bool present;
        uint64_t since;  // gone_ns, or seen_ns when present
        size_t depth;
        uint64_t id;
    };
    std::vector<Victim> victims;
    victims.reserve(paths_.size());
    for (const auto& [id, e] : paths_)
        if (!keep.count(id))
            victims.push_back({e.gone_ns == 0, e.gone_ns != 0 ? e.gone_ns : e.seen_ns, e.depth, id});
    std::sort(victims.begin(), victims.end(), [](const Victim& a, const Victim& b) {
        if (a.present != b.present) return !a.present;
        if (a.since != b.since) return a.since < b.since;
        return a.depth > b.depth;
    });
    for (const Victim& v : victims) {
        if (bytes_ <= limits_.max_bytes) break;
        auto it = paths_.find(v.id);
        bytes_ -= entry_bytes(it->second.path);
        paths_.erase(it);
    }
}

CgroupResolver::CgroupResolver(std::string root, CgroupResolverLimits limits, std::string root_path)
    : root_(std::move(root)), limits_(limits), cache_(limits, std::move(root_path)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    if (!root_.empty()) worker_ = std::thread(&CgroupResolver::work, this);
}

CgroupResolver::CgroupResolver(const std::optional<Mount>& cgroup2, CgroupResolverLimits limits)
    : CgroupResolver(cgroup2 ? cgroup2->target : "", limits, mounted_cgroup(cgroup2)) {}

CgroupResolver::~CgroupResolver() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable()) worker_.join();
}

std::optional<std::string> CgroupResolver::path_of(uint64_t cgroup_id) {
    if (root_.empty()) return std::nullopt;
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto path = cache_.find(cgroup_id)) return path;
    constexpr size_t kMaxWanted = 1024;  // ids asked for per walk (a flood of unknown ids is not kept)
    if (wanted_.size() < kMaxWanted) wanted_.insert(cgroup_id);
    if (!requested_) {
        requested_ = true;
        changed_.notify_all();
    }
    return std::nullopt;
}

bool CgroupResolver::walking() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requested_ || walking_;
}

bool CgroupResolver::wait_idle(int timeout_ms) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                             [&] { return !requested_ && !walking_; });
}

void CgroupResolver::work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        changed_.wait(lock, [&] { return stopping_ || requested_; });
        // At most one walk per min_rescan_ns: a container can ask for unknown ids at will.
        const auto earliest = last_start_ + std::chrono::nanoseconds(limits_.min_rescan_ns);
        changed_.wait_until(lock, earliest, [&] { return stopping_; });
        if (stopping_) return;
        last_start_ = std::chrono::steady_clock::now();
        requested_ = false;
        walking_ = true;
        std::unordered_set<uint64_t> keep;
        keep.swap(wanted_);  // later misses ask for the next walk
        cache_.begin_walk();
        struct stat st {};
        if (::stat(root_.c_str(), &st) == 0) cache_.see(st.st_ino, "", 0, util::monotonic_now_ns(), keep);
        lock.unlock();
        // The walk's I/O runs unlocked; each directory it finds is added under the lock.
        const WalkStats stats = walk_cgroup_tree(
            root_, limits_,
            [&](uint64_t id, const std::string& path, size_t depth) {
                std::lock_guard<std::mutex> guard(mutex_);
                cache_.see(id, path, depth, util::monotonic_now_ns(), keep);
            },
            [&] {
                std::lock_guard<std::mutex> guard(mutex_);
                return stopping_;
            });
        lock.lock();
        cache_.end_walk(stats, util::monotonic_now_ns(), keep);
        // A walk of a flood freed megabytes (its queue, the paths it made room for): give them
        // back to the system, or they stay in this thread's malloc arena for good.
        if (stats.directories > 4096) ::malloc_trim(0);
        last_walk_ = stats;
        ++walks_;
        walking_ = false;
        changed_.notify_all();
    }
}

size_t CgroupResolver::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cache_.size();
}

size_t CgroupResolver::bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cache_.bytes();
}

WalkStats CgroupResolver::last_walk() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_walk_;
}

uint64_t CgroupResolver::walks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return walks_;
}

namespace {

// The smallest value of `file` in `root`+`path` and its ancestors below root; values from
// `unlimited` up mean no limit.
std::optional<uint64_t> tightest_value(const std::string& root, std::string dir, const char* file,
                                       uint64_t unlimited) {
    std::optional<uint64_t> tightest;
    while (!dir.empty() && dir != "/") {
        char buf[32];
        const int fd = ::open((root + dir + "/" + file).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
            ::close(fd);
            if (n > 0) {
                buf[n] = '\0';
                char* end = nullptr;
                errno = 0;
                const unsigned long long v = std::strtoull(buf, &end, 10);
                if (errno == 0 && end != buf && (*end == '\n' || *end == '\0') && v < unlimited &&
                    (!tightest || v < *tightest))
                    tightest = v;
            }
        }
        const size_t slash = dir.rfind('/');
        dir = slash == std::string::npos ? "" : dir.substr(0, slash);
    }
    return tightest;
}

}  // namespace

std::optional<uint64_t> memory_limit(const std::string& root, const std::string& path,
                                     const std::string& mountinfo_path) {
    if (auto v2 = tightest_value(root, path, "memory.max", UINT64_MAX)) return v2;
    // A hybrid host (systemd's "unified" v2 mount beside v1 controllers): runc gives a
    // container the same path in every hierarchy. v1 says "no limit" with a page-rounded
    // LONG_MAX.
    for (const Mount& m : find_mounts(mountinfo_path, "cgroup", "memory"))
        if (m.root == "/")
            if (auto v1 = tightest_value(m.target, path, "memory.limit_in_bytes", uint64_t{1} << 62))
                return v1;
    return std::nullopt;
}

}  // namespace initwatch::meta
