#include "meta/kubelet_logs.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace initwatch::meta {

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

std::string pod_uid_from_link_text(std::string_view text, const PodInfo& pod) {
    // Split from the right: "<n>.log", then the container directory, then the pod directory.
    auto strip_last = [&text]() -> std::string_view {
        const size_t slash = text.rfind('/');
        if (slash == std::string_view::npos) return std::exchange(text, std::string_view{});
        const std::string_view last = text.substr(slash + 1);
        text = text.substr(0, slash);
        return last;
    };
    const std::string_view file = strip_last();
    if (file.size() <= 4 || file.substr(file.size() - 4) != ".log") return {};
    if (strip_last() != pod.container_name) return {};
    const std::string_view pod_directory = strip_last();
    const std::string prefix = pod.namespace_name + "_" + pod.pod_name + "_";
    if (pod_directory.substr(0, prefix.size()) != prefix) return {};
    const std::string_view uid = pod_directory.substr(prefix.size());
    return is_name_field(uid) ? std::string(uid) : std::string{};
}

namespace {

// readlinkat of a link that is at most `max` bytes; nullopt for anything else (not a link, longer).
std::optional<std::string> link_text(int dir_fd, const char* name, size_t max) {
    std::string text(max + 1, '\0');
    const ssize_t n = ::readlinkat(dir_fd, name, text.data(), text.size());
    if (n < 0 || static_cast<size_t>(n) > max) return std::nullopt;
    text.resize(static_cast<size_t>(n));
    return text;
}

uint64_t mtime_ns(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000ULL +
           static_cast<uint64_t>(st.st_mtim.tv_nsec);
}

}  // namespace

KubeletLogIndex::KubeletLogIndex(std::string host_root, KubeletLogLimits limits)
    : root_(std::move(host_root)), limits_(limits), rescans_(limits.min_rescan_ns) {
    while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::optional<PodInfo> KubeletLogIndex::lookup(const std::string& container_id, uint64_t now_ns) {
    // A miss rescans when kubelet added a link since the last scan (one stat), or at most
    // every min_rescan_ns otherwise: containers crash-looping fast must still be named.
    return rescans_.lookup(
        now_ns,
        [&]() -> std::optional<PodInfo> {
            if (auto it = entries_.find(container_id); it != entries_.end()) return it->second.pod;
            return std::nullopt;
        },
        [&] { rescan(now_ns); }, [&] { return mtime_ns(root_ + "/var/log/containers"); });
}

void KubeletLogIndex::rescan(uint64_t now_ns) {
    const std::string links = root_ + "/var/log/containers";
    DIR* dir = ::opendir(links.c_str());
    if (!dir) return forget_old(now_ns);
    size_t entries = 0;
    while (const dirent* e = ::readdir(dir)) {
        if (++entries > limits_.max_scan_entries) break;
        auto link = parse_container_log_name(e->d_name);
        if (!link) continue;
        PodInfo& pod = link->pod;
        if (const auto text = link_text(::dirfd(dir), e->d_name, limits_.max_link_bytes))
            pod.pod_uid = pod_uid_from_link_text(*text, pod);

        auto [entry, inserted] = entries_.try_emplace(link->container_id, Entry{pod, now_ns});
        if (!inserted) {
            // A link rewritten badly later does not make a known UID unknown.
            if (pod.pod_uid.empty() && entry->second.pod.namespace_name == pod.namespace_name &&
                entry->second.pod.pod_name == pod.pod_name)
                pod.pod_uid = entry->second.pod.pod_uid;
            entry->second = Entry{std::move(pod), now_ns};
        }
    }
    ::closedir(dir);
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
