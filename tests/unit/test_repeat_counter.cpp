#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "meta/repeat_counter.h"

using initwatch::meta::describe_repeat;
using initwatch::meta::ordinal;
using initwatch::meta::RepeatCounter;

namespace {
constexpr uint64_t ms = 1'000'000;
constexpr uint64_t second = 1000 * ms;
}  // namespace

TEST_CASE("ordinals in English") {
    CHECK(ordinal(0) == "0th");
    CHECK(ordinal(1) == "1st");
    CHECK(ordinal(2) == "2nd");
    CHECK(ordinal(3) == "3rd");
    CHECK(ordinal(4) == "4th");
    CHECK(ordinal(10) == "10th");
    CHECK(ordinal(11) == "11th");
    CHECK(ordinal(12) == "12th");
    CHECK(ordinal(13) == "13th");
    CHECK(ordinal(14) == "14th");
    CHECK(ordinal(21) == "21st");
    CHECK(ordinal(22) == "22nd");
    CHECK(ordinal(23) == "23rd");
    CHECK(ordinal(101) == "101st");
    CHECK(ordinal(111) == "111th");
    CHECK(ordinal(112) == "112th");
    CHECK(ordinal(113) == "113th");
    CHECK(ordinal(1002) == "1002nd");
    CHECK(ordinal(4294967295u) == "4294967295th");
}

TEST_CASE("the same key again is the same story") {
    RepeatCounter tracker;
    const auto first = tracker.record("uid-1/app", 100 * second);
    CHECK(first.count == 1);
    CHECK_FALSE(first.since_previous_ns);
    CHECK_FALSE(first.since_first_ns);
    CHECK(describe_repeat(first).empty());

    const auto second_time = tracker.record("uid-1/app", 110 * second);
    CHECK(second_time.count == 2);
    CHECK(second_time.since_previous_ns == 10 * second);
    CHECK(second_time.since_first_ns == 10 * second);

    const auto third = tracker.record("uid-1/app", 225 * second);
    CHECK(third.count == 3);
    CHECK(third.since_previous_ns == 115 * second);
    CHECK(third.since_first_ns == 125 * second);
    CHECK(describe_repeat(third) == "3rd time in 2m05s");

    SECTION("other keys are other stories") {
        CHECK(tracker.record("uid-1/sidecar", 226 * second).count == 1);
        CHECK(tracker.record("uid-2/app", 226 * second).count == 1);
        CHECK(tracker.record("uid-1/app", 226 * second).count == 4);
    }
}

TEST_CASE("repeats are described with the time since the first finding") {
    struct Row {
        uint32_t count;
        uint64_t since_first_ns;
        std::string text;
    };
    const std::vector<Row> rows = {
        {2, 850 * ms, "2nd time in 850ms"},
        {3, 42 * second, "3rd time in 42s"},
        {3, 125 * second, "3rd time in 2m05s"},
        {11, 3720 * second, "11th time in 1h02m"},
        {21, (3 * 86400 + 4 * 3600 + 59) * second, "21st time in 3d04h"},
    };
    for (const auto& row : rows) {
        const RepeatCounter::Repeat repeat{row.count, 1 * second, row.since_first_ns};
        CHECK(describe_repeat(repeat) == row.text);
    }
    CHECK(describe_repeat(RepeatCounter::Repeat{1, std::nullopt, std::nullopt}).empty());
}

TEST_CASE("a clock read out of order does not produce a huge interval") {
    RepeatCounter tracker;
    tracker.record("k", 10 * second);
    const auto repeat = tracker.record("k", 9 * second);
    CHECK(repeat.count == 2);
    CHECK(repeat.since_previous_ns == 0);
    CHECK(repeat.since_first_ns == 0);
}

TEST_CASE("bounded: the least recently seen story is forgotten first") {
    RepeatCounter tracker(2);
    tracker.record("a", 1);
    tracker.record("b", 2);
    tracker.record("a", 3);  // a is now the most recently seen
    tracker.record("c", 4);  // evicts b
    CHECK(tracker.size() == 2);
    CHECK(tracker.record("a", 5).count == 3);
    CHECK(tracker.record("c", 6).count == 2);
    CHECK(tracker.record("b", 7).count == 1);  // forgotten, a new story (and a, least recent, goes)
    CHECK(tracker.size() == 2);
    CHECK(tracker.record("a", 8).count == 1);
}

TEST_CASE("with no room nothing is remembered") {
    RepeatCounter tracker(0);
    CHECK(tracker.record("a", 1).count == 1);
    CHECK(tracker.record("a", 2).count == 1);
    CHECK(tracker.size() == 0);
}
