// A crash-looping container produces the same finding again each time kubelet starts it again:
// the same pod and container name (or container id outside Kubernetes) is one story, told with
// how many times and since when ("3rd time in 2m05s"). Not to be confused with a worker
// `restarted` by its supervisor inside a living container (model/worker_watch.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace initwatch::meta {

class RepeatCounter {
public:
    explicit RepeatCounter(size_t max_entries = 4096);

    struct Repeat {
        uint32_t count;                             // 1 for the first finding
        std::optional<uint64_t> since_previous_ns;  // none for the first finding
        std::optional<uint64_t> since_first_ns;     // none for the first finding
    };

    // `key`: pod uid + "/" + container name, or the container id. Stories never start over at 1, as
    // kubelet's restartCount does not: a story ends only when its key is evicted, least recently seen
    // first beyond `max_entries`.
    Repeat record(const std::string& key, uint64_t now_ns);

    size_t size() const { return by_key_.size(); }

private:
    struct Story {
        std::string key;
        uint32_t count;
        uint64_t first_ns, last_ns;
    };

    size_t max_entries_;
    std::list<Story> stories_;                                                 // most recently seen first
    std::unordered_map<std::string_view, std::list<Story>::iterator> by_key_;  // views of Story::key
};

// "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "112th".
std::string ordinal(uint32_t n);

// "" for a first finding, else e.g. "3rd time in 2m05s": the time since the story's FIRST finding,
// which says how fast it loops; the gap to the previous one is in Repeat::since_previous_ns.
std::string describe_repeat(const RepeatCounter::Repeat& r);

}  // namespace initwatch::meta
