#include "meta/cgroup_resolver.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace initwatch::meta {

namespace fs = std::filesystem;

std::string find_cgroup2_mount(const std::string& mountinfo_path, const std::string& host_root) {
    std::string prefix = host_root;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    std::ifstream in(mountinfo_path);
    std::string line, first;
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, dev, root, mountpoint, word;
        if (!(fields >> id >> parent >> dev >> root >> mountpoint)) continue;
        while (fields >> word && word != "-") {
        }
        std::string fstype;
        if (!(fields >> fstype) || fstype != "cgroup2") continue;
        if (!prefix.empty() && mountpoint.rfind(prefix + "/", 0) == 0) return mountpoint;
        if (first.empty()) first = mountpoint;
    }
    return first;
}

CgroupResolver::CgroupResolver(std::string root) : root_(std::move(root)) {}

std::optional<std::string> CgroupResolver::path_of(uint64_t cgroup_id, uint64_t now_ns) {
    if (root_.empty()) return std::nullopt;
    if (auto it = paths_.find(cgroup_id); it != paths_.end()) return it->second;
    if (scanned_ && now_ns - last_scan_ns_ < min_rescan_ns) return std::nullopt;
    last_scan_ns_ = now_ns;
    scanned_ = true;
    rescan();
    if (auto it = paths_.find(cgroup_id); it != paths_.end()) return it->second;
    return std::nullopt;
}

// Removed cgroups keep their entry: the exits that matter arrive during teardown.
void CgroupResolver::rescan() {
    std::error_code ec;
    struct stat st {};
    if (::stat(root_.c_str(), &st) == 0) paths_[st.st_ino] = "/";
    fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
        if (::stat(it->path().c_str(), &st) != 0) continue;
        paths_[st.st_ino] = "/" + fs::relative(it->path(), root_, ec).string();
    }
}

}  // namespace initwatch::meta
