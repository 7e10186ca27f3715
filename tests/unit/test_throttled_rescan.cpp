#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>

#include "util/throttled_rescan.h"

using initwatch::util::ThrottledRescan;

namespace {

constexpr uint64_t ms = 1'000'000;

// A cache over a "source" map, counting the rescans that copy it in.
struct Cache {
    std::map<int, std::string> source, cached;
    int rescans = 0;
    ThrottledRescan throttle{100 * ms};

    std::optional<std::string> get(int key, uint64_t now_ns) {
        return throttle.lookup(
            now_ns,
            [&]() -> std::optional<std::string> {
                if (auto it = cached.find(key); it != cached.end()) return it->second;
                return std::nullopt;
            },
            [&] {
                ++rescans;
                cached = source;
            });
    }
};

}  // namespace

TEST_CASE("throttled rescan: a hit costs no rescan, a miss at most one per interval") {
    Cache c;
    c.source = {{1, "one"}};
    CHECK(c.get(1, 5 * ms) == "one");  // the first miss rescans at once
    CHECK(c.rescans == 1);
    CHECK(c.get(1, 6 * ms) == "one");
    CHECK(c.rescans == 1);

    c.source[2] = "two";
    for (uint64_t t = 6 * ms; t < 105 * ms; t += ms) CHECK_FALSE(c.get(2, t));  // a flood of misses
    CHECK(c.rescans == 1);
    CHECK(c.get(2, 105 * ms) == "two");  // the interval is over
    CHECK(c.rescans == 2);
    CHECK_FALSE(c.get(3, 105 * ms));  // found nowhere: the next miss waits again
    CHECK_FALSE(c.get(3, 204 * ms));
    CHECK_FALSE(c.get(3, 205 * ms));
    CHECK(c.rescans == 3);
}

TEST_CASE("throttled rescan: a changed version rescans before the interval is over") {
    ThrottledRescan t(100 * ms);
    CHECK(t.due(0, 7));
    CHECK_FALSE(t.due(1 * ms, 7));
    CHECK(t.due(2 * ms, 8));  // what is scanned changed
    CHECK_FALSE(t.due(3 * ms, 8));
    CHECK(t.due(102 * ms, 8));

    int rescans = 0, versions = 0;
    const auto miss = [] { return std::optional<int>{}; };
    const auto rescan = [&] { ++rescans; };
    const auto version = [&] { return uint64_t(++versions); };  // changes at every ask
    const auto hit = [] { return std::optional<int>{1}; };
    CHECK(t.lookup(103 * ms, hit, rescan, version) == 1);
    CHECK(versions == 0);  // only a miss asks for the version (a stat, say)
    CHECK_FALSE(t.lookup(103 * ms, miss, rescan, version));
    CHECK_FALSE(t.lookup(104 * ms, miss, rescan, version));
    CHECK(rescans == 2);
}

TEST_CASE("throttled rescan: a clock that goes back does not stop rescans") {
    ThrottledRescan t(100 * ms);
    CHECK(t.due(500 * ms));
    CHECK(t.due(100 * ms));  // the caller's clock before the last rescan: not within the interval
    CHECK_FALSE(t.due(150 * ms));
}
