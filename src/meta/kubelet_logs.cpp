#include "meta/kubelet_logs.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

namespace initwatch::meta {

namespace fs = std::filesystem;

namespace {

constexpr size_t container_id_length = 64;

bool is_container_id(std::string_view s) {
    if (s.size() != container_id_length) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_name_field(std::string_view s) {
    return !s.empty() && s.find_first_of("_/") == std::string_view::npos;
}

std::string pod_directory_prefix(const PodInfo& pod) { return pod.namespace_name + "_" + pod.pod_name + "_"; }

// The UID from a link target ".../<namespace>_<pod>_<uid>/<container>/<n>.log", absolute or relative.
// Only the target's text is read: on a host mounted elsewhere an absolute target points outside it.
std::string uid_from_link_target(const fs::path& target, const PodInfo& pod) {
    const fs::path container_directory = target.parent_path();
    if (container_directory.filename() != pod.container_name) return {};
    const std::string pod_directory = container_directory.parent_path().filename().string();
    const std::string prefix = pod_directory_prefix(pod);
    if (pod_directory.compare(0, prefix.size(), prefix) != 0) return {};
    const std::string uid = pod_directory.substr(prefix.size());
    return is_name_field(uid) ? uid : std::string{};
}

// /var/log/pods, listed on first use in a rescan: only links whose target says nothing need it.
class PodDirectories {
public:
    explicit PodDirectories(fs::path root) : root_(std::move(root)) {}

    // The UID of the only pod directory with this namespace, pod name and container; "" when there is
    // none, or several (a pod deleted and created again under the same name, e.g. a StatefulSet's).
    std::string unique_uid(const PodInfo& pod) {
        if (!listed_) list();
        const std::string prefix = pod_directory_prefix(pod);
        std::string found;
        for (const auto& name : names_) {
            if (name.compare(0, prefix.size(), prefix) != 0) continue;
            const std::string uid = name.substr(prefix.size());
            std::error_code ec;
            if (!is_name_field(uid) || !fs::is_directory(root_ / name / pod.container_name, ec)) continue;
            if (!found.empty()) return {};
            found = uid;
        }
        return found;
    }

private:
    void list() {
        listed_ = true;
        std::error_code ec;
        for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec))
            names_.push_back(it->path().filename().string());
    }

    fs::path root_;
    std::vector<std::string> names_;
    bool listed_ = false;
};

}  // namespace

std::optional<ContainerLogLink> parse_container_log_name(std::string_view file_name) {
    constexpr std::string_view suffix = ".log";
    if (file_name.size() < suffix.size() + container_id_length + 1) return std::nullopt;
    if (file_name.substr(file_name.size() - suffix.size()) != suffix) return std::nullopt;
    std::string_view stem = file_name.substr(0, file_name.size() - suffix.size());
    const std::string_view id = stem.substr(stem.size() - container_id_length);
    stem.remove_suffix(container_id_length);
    if (!is_container_id(id) || stem.back() != '-') return std::nullopt;
    stem.remove_suffix(1);

    const size_t first = stem.find('_');
    const size_t second = first == std::string_view::npos ? first : stem.find('_', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    const std::string_view pod = stem.substr(0, first);
    const std::string_view ns = stem.substr(first + 1, second - first - 1);
    const std::string_view container = stem.substr(second + 1);
    if (!is_name_field(pod) || !is_name_field(ns) || !is_name_field(container)) return std::nullopt;
    return ContainerLogLink{PodInfo{std::string(ns), std::string(pod), "", std::string(container)},
                            std::string(id)};
}

namespace {

uint64_t mtime_ns(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(st.st_mtim.tv_nsec);
}

}  // namespace

KubeletLogIndex::KubeletLogIndex(std::string host_root, KubeletLogLimits limits)
    : root_(std::move(host_root)), limits_(limits) {
    while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::optional<PodInfo> KubeletLogIndex::lookup(const std::string& container_id, uint64_t now_ns) {
    if (auto it = entries_.find(container_id); it != entries_.end()) return it->second.pod;
    // A miss rescans when kubelet added a link since the last scan (one stat), or at most
    // every min_rescan_ns otherwise: containers crash-looping fast must still be named.
    const uint64_t dir_mtime = mtime_ns(root_ + "/var/log/containers");
    const bool changed = dir_mtime != last_dir_mtime_ns_;
    if (scanned_ && !changed && now_ns - last_scan_ns_ < limits_.min_rescan_ns) return std::nullopt;
    last_dir_mtime_ns_ = dir_mtime;
    last_scan_ns_ = now_ns;
    scanned_ = true;
    rescan(now_ns);
    if (auto it = entries_.find(container_id); it != entries_.end()) return it->second.pod;
    return std::nullopt;
}

void KubeletLogIndex::rescan(uint64_t now_ns) {
    PodDirectories pod_directories(root_ + "/var/log/pods");
    std::error_code ec;
    for (fs::directory_iterator it(root_ + "/var/log/containers", ec), end; !ec && it != end;
         it.increment(ec)) {
        auto link = parse_container_log_name(it->path().filename().string());
        if (!link) continue;
        std::error_code link_ec;
        const fs::path target = fs::read_symlink(it->path(), link_ec);
        PodInfo& pod = link->pod;
        if (!link_ec) pod.pod_uid = uid_from_link_target(target, pod);
        if (pod.pod_uid.empty()) pod.pod_uid = pod_directories.unique_uid(pod);

        auto [entry, inserted] = entries_.try_emplace(link->container_id, Entry{pod, now_ns});
        if (!inserted) {
            // A pod directory that became ambiguous later does not make a known UID unknown.
            if (pod.pod_uid.empty()) pod.pod_uid = entry->second.pod.pod_uid;
            entry->second = Entry{std::move(pod), now_ns};
        }
    }
    forget_old(now_ns);
}

void KubeletLogIndex::forget_old(uint64_t now_ns) {
    for (auto it = entries_.begin(); it != entries_.end();) {
        const uint64_t seen = it->second.last_seen_ns;
        if (now_ns > seen && now_ns - seen > limits_.grace_ns)
            it = entries_.erase(it);
        else
            ++it;
    }
    if (entries_.size() <= limits_.max_entries) return;
    // Least recently seen first: containers whose logs are still there were seen just now.
    std::vector<std::pair<uint64_t, const std::string*>> by_age;
    by_age.reserve(entries_.size());
    for (const auto& [id, entry] : entries_) by_age.emplace_back(entry.last_seen_ns, &id);
    const size_t excess = entries_.size() - limits_.max_entries;
    std::nth_element(by_age.begin(), by_age.begin() + excess, by_age.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> victims;
    for (size_t i = 0; i < excess; ++i) victims.push_back(*by_age[i].second);
    for (const auto& id : victims) entries_.erase(id);
}

}  // namespace initwatch::meta
