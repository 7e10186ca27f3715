// client-go's per-object spam filter for Events: a token bucket per object (a burst, then
// one per interval), for a bounded number of objects (the least recently seen forgotten).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>

namespace initwatch::k8s {

class SpamFilter {
public:
    using Clock = std::chrono::steady_clock;

    SpamFilter(size_t burst, Clock::duration refill, size_t max_objects)
        : burst_(static_cast<double>(burst)), refill_(refill), max_objects_(max_objects) {}

    // True when an Event about `object` may be written now (and counts it).
    bool allow(const std::string& object, Clock::time_point now = Clock::now());

    size_t objects() const { return buckets_.size(); }

private:
    struct Bucket {
        double tokens;
        Clock::time_point refilled;
        std::list<std::string>::iterator lru;
    };

    double burst_;
    Clock::duration refill_;
    size_t max_objects_;
    std::unordered_map<std::string, Bucket> buckets_;
    std::list<std::string> lru_;  // least recently seen first
};

}  // namespace initwatch::k8s
