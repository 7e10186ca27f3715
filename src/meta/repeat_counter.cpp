#include "meta/repeat_counter.h"

#include <cstdio>
#include <limits>

#include "util/time.h"

namespace initwatch::meta {

namespace {

uint64_t elapsed(uint64_t from_ns, uint64_t to_ns) { return to_ns > from_ns ? to_ns - from_ns : 0; }

}  // namespace

RepeatCounter::RepeatCounter(size_t max_entries) : max_entries_(max_entries) {}

RepeatCounter::Repeat RepeatCounter::record(const std::string& key, uint64_t now_ns) {
    if (auto found = by_key_.find(key); found != by_key_.end()) {
        const auto story = found->second;
        stories_.splice(stories_.begin(), stories_, story);
        const Repeat repeat{
            story->count == std::numeric_limits<uint32_t>::max() ? story->count : story->count + 1,
            elapsed(story->last_ns, now_ns), elapsed(story->first_ns, now_ns)};
        story->count = repeat.count;
        story->last_ns = now_ns;
        return repeat;
    }

    stories_.push_front(Story{key, 1, now_ns, now_ns});
    by_key_.emplace(stories_.front().key, stories_.begin());
    while (by_key_.size() > max_entries_) {
        by_key_.erase(stories_.back().key);
        stories_.pop_back();
    }
    return Repeat{1, std::nullopt, std::nullopt};
}

std::string ordinal(uint32_t n) {
    static constexpr const char* irregular[] = {"th", "st", "nd", "rd"};
    const uint32_t last_two = n % 100, last = n % 10;
    const bool teen = last_two >= 11 && last_two <= 13;
    return std::to_string(n) + (teen || last > 3 ? "th" : irregular[last]);
}

std::string describe_repeat(const RepeatCounter::Repeat& r) {
    if (r.count <= 1) return {};
    std::string text = ordinal(r.count) + " time";
    if (r.since_first_ns) text += " in " + util::format_duration(*r.since_first_ns);
    return text;
}

}  // namespace initwatch::meta
