// "Look up; on a miss rescan, at most once per interval": for caches filled by scanning
// something a container can make large (a cgroup tree, a log directory). A container can
// also ask for ids that are in no scan at will, so a miss must not cost a scan each time.
#pragma once

#include <cstdint>

namespace initwatch::util {

class ThrottledRescan {
public:
    explicit ThrottledRescan(uint64_t min_interval_ns) : min_interval_ns_(min_interval_ns) {}

    // `find()` (something that converts to bool, such as std::optional) first; on a miss,
    // when a rescan is due, `rescan()` and then `find()` again.
    template <typename Find, typename Rescan>
    auto lookup(uint64_t now_ns, Find&& find, Rescan&& rescan) -> decltype(find()) {
        return lookup(now_ns, find, rescan, [] { return uint64_t{0}; });
    }
    // The same, where `version()` (asked on a miss only) stands for the state of what is
    // scanned, e.g. a directory's mtime: a rescan is due as soon as it changes.
    template <typename Find, typename Rescan, typename Version>
    auto lookup(uint64_t now_ns, Find&& find, Rescan&& rescan, Version&& version) -> decltype(find()) {
        if (auto hit = find()) return hit;
        if (!due(now_ns, version())) return {};
        rescan();
        return find();
    }

    // Whether a rescan may run now: the first one, a changed `version`, or min_interval_ns
    // since the last one on the caller's clock. A true answer counts as a rescan.
    bool due(uint64_t now_ns, uint64_t version = 0) {
        if (scanned_ && version == version_ && now_ns - last_ns_ < min_interval_ns_) return false;
        scanned_ = true;
        last_ns_ = now_ns;
        version_ = version;
        return true;
    }

private:
    uint64_t min_interval_ns_;
    uint64_t last_ns_ = 0;
    uint64_t version_ = 0;
    bool scanned_ = false;
};

}  // namespace initwatch::util
