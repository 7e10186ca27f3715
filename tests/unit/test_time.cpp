#include <catch2/catch.hpp>

#include "util/time.h"

using initwatch::util::format_duration;

namespace {
constexpr uint64_t ms = 1'000'000;
constexpr uint64_t second = 1000 * ms;
}  // namespace

TEST_CASE("one duration format: the two largest units") {
    CHECK(format_duration(0) == "0ms");
    CHECK(format_duration(999 * ms) == "999ms");
    CHECK(format_duration(1 * second) == "1.0s");
    CHECK(format_duration(4 * second + 270 * ms) == "4.2s");
    CHECK(format_duration(10 * second) == "10s");
    CHECK(format_duration(59 * second + 999 * ms) == "59s");
    CHECK(format_duration(125 * second) == "2m05s");
    CHECK(format_duration(3720 * second) == "1h02m");
    CHECK(format_duration((3 * 86400 + 4 * 3600 + 59) * second) == "3d04h");
    CHECK(format_duration(UINT64_MAX) == "213503d23h");
}

TEST_CASE("the monotonic clock does not go back") {
    const uint64_t a = initwatch::util::monotonic_now_ns();
    const uint64_t b = initwatch::util::monotonic_now_ns();
    CHECK(b >= a);
    CHECK(initwatch::util::realtime_now_ns() > 1'600'000'000 * second);
}
