#include <catch2/catch.hpp>

#include "k8s/spam_filter.h"

using initwatch::k8s::SpamFilter;
using namespace std::chrono_literals;

TEST_CASE("the spam filter: a burst per object, then one per interval") {
    SpamFilter filter(25, 300s, 100);
    const auto t0 = SpamFilter::Clock::time_point{} + 1000h;
    for (int i = 0; i < 25; ++i) CHECK(filter.allow("pod-a", t0));
    CHECK_FALSE(filter.allow("pod-a", t0));
    CHECK(filter.allow("pod-b", t0));  // another object has its own burst
    CHECK_FALSE(filter.allow("pod-a", t0 + 299s));
    CHECK(filter.allow("pod-a", t0 + 301s));
    CHECK_FALSE(filter.allow("pod-a", t0 + 302s));
    CHECK(filter.allow("pod-a", t0 + 302s + 25 * 300s));  // refilled up to the burst, no more
}

TEST_CASE("the spam filter remembers a bounded number of objects") {
    SpamFilter filter(1, 300s, 3);
    const auto t = SpamFilter::Clock::time_point{} + 1h;
    for (const char* pod : {"a", "b", "c"}) CHECK(filter.allow(pod, t));
    CHECK_FALSE(filter.allow("a", t));  // a is now the most recent
    CHECK(filter.allow("d", t));        // b, the least recently seen, is forgotten
    CHECK(filter.objects() == 3);
    CHECK(filter.allow("b", t));        // a new bucket
    CHECK_FALSE(filter.allow("a", t));  // still remembered
}
