#include "meta/cgroup_resolver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <vector>

namespace initwatch::meta {

namespace {

// The cgroup a mount's root field names, or "/" when it is outside this cgroup namespace.
std::string mounted_cgroup(const std::optional<Mount>& m) {
    if (!m || m->root.empty() || m->root[0] != '/') return "/";
    const std::string r = m->root + "/";
    return r.find("/../") == std::string::npos ? m->root : "/";
}

}  // namespace

CgroupResolver::CgroupResolver(std::string root, CgroupResolverLimits limits, std::string root_path)
    : root_(std::move(root)), prefix_(std::move(root_path)), limits_(limits), rescans_(limits.min_rescan_ns) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
}

CgroupResolver::CgroupResolver(const std::optional<Mount>& cgroup2, CgroupResolverLimits limits)
    : CgroupResolver(cgroup2 ? cgroup2->target : "", limits, mounted_cgroup(cgroup2)) {}

std::optional<std::string> CgroupResolver::path_of(uint64_t cgroup_id, uint64_t now_ns) {
    if (root_.empty()) return std::nullopt;
    return rescans_.lookup(
        now_ns,
        [&]() -> std::optional<std::string> {
            if (auto it = paths_.find(cgroup_id); it != paths_.end()) return it->second.path;
            return std::nullopt;
        },
        [&] { rescan(cgroup_id, now_ns); });
}

void CgroupResolver::see(uint64_t id, const std::string& path, size_t depth, uint64_t now_ns) {
    auto [it, inserted] = paths_.try_emplace(id);
    Entry& e = it->second;
    if (inserted || e.path != path) e.path = path;
    e.seen_ns = now_ns;
    e.seen_walk = walk_;
    e.gone_ns = 0;
    e.depth = depth;
}

namespace {

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

}  // namespace

void CgroupResolver::rescan(uint64_t wanted, uint64_t now_ns) {
    ++walk_;
    last_walk_ = {};
    struct stat st {};
    if (::stat(root_.c_str(), &st) != 0) return;
    see(st.st_ino, prefix_.empty() ? "/" : prefix_, 0, now_ns);

    std::deque<Pending> pending;
    pending.push_back({"", 0});
    while (!pending.empty() && !last_walk_.truncated) {
        const Pending dir = std::move(pending.front());
        pending.pop_front();
        Directory d(root_ + dir.path);
        if (!d.is_open()) {
            ++last_walk_.vanished;
            continue;
        }
        while (const char* name = d.next()) {
            if (::fstatat(d.fd(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                ++last_walk_.vanished;
                continue;
            }
            if (!S_ISDIR(st.st_mode)) continue;
            if (last_walk_.directories == limits_.max_walk_entries) {
                last_walk_.truncated = true;
                break;
            }
            ++last_walk_.directories;
            std::string path = dir.path + "/" + name;
            see(st.st_ino, prefix_ + path, dir.depth + 1, now_ns);
            if (paths_.size() >= 2 * limits_.max_entries) forget(wanted, now_ns);
            if (dir.depth + 1 < limits_.max_depth)
                pending.push_back({std::move(path), dir.depth + 1});
            else
                last_walk_.truncated = true;
        }
        if (errno != 0) ++last_walk_.vanished;  // readdir failed: what it had not listed yet is skipped
    }
    // Only a walk that saw the whole tree can tell that a cgroup is gone.
    if (!last_walk_.truncated)
        for (auto& [id, e] : paths_)
            if (e.seen_walk != walk_ && e.gone_ns == 0) e.gone_ns = now_ns;
    forget(wanted, now_ns);
}

// Removed cgroups keep their entry for the grace period, then go; beyond max_entries the ones gone
// longest, then the least recently seen (deepest first: a flood is deep) go first. `keep` stays.
void CgroupResolver::forget(uint64_t keep, uint64_t now_ns) {
    for (auto it = paths_.begin(); it != paths_.end();) {
        const Entry& e = it->second;
        if (e.gone_ns != 0 && now_ns - e.gone_ns > limits_.grace_ns && it->first != keep)
            it = paths_.erase(it);
        else
            ++it;
    }
    if (paths_.size() <= limits_.max_entries) return;
    struct Victim {
        bool present;
        uint64_t since;  // gone_ns, or seen_ns when present
        size_t depth;
        uint64_t id;
    };
    std::vector<Victim> victims;
    victims.reserve(paths_.size());
    for (const auto& [id, e] : paths_)
        if (id != keep) victims.push_back({e.gone_ns == 0, e.gone_ns != 0 ? e.gone_ns : e.seen_ns, e.depth, id});
    const size_t excess = std::min(paths_.size() - limits_.max_entries, victims.size());
    std::nth_element(victims.begin(), victims.begin() + static_cast<std::ptrdiff_t>(excess), victims.end(),
                     [](const Victim& a, const Victim& b) {
                         if (a.present != b.present) return !a.present;
                         if (a.since != b.since) return a.since < b.since;
                         return a.depth > b.depth;
                     });
    for (size_t i = 0; i < excess; ++i) paths_.erase(victims[i].id);
}

}  // namespace initwatch::meta
