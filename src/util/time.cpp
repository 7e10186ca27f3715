#include "util/time.h"

#include <cstdio>
#include <ctime>

namespace initwatch::util {

namespace {

uint64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

uint64_t monotonic_now_ns() { return clock_ns(CLOCK_MONOTONIC); }
uint64_t realtime_now_ns() { return clock_ns(CLOCK_REALTIME); }

std::string format_duration(uint64_t ns) {
    using ull = unsigned long long;
    const uint64_t ms = ns / 1'000'000;
    const uint64_t s = ms / 1000;
    char buf[32];
    if (s == 0)
        std::snprintf(buf, sizeof(buf), "%llums", static_cast<ull>(ms));
    else if (s < 10)
        std::snprintf(buf, sizeof(buf), "%llu.%llus", static_cast<ull>(s), static_cast<ull>(ms / 100 % 10));
    else if (s < 60)
        std::snprintf(buf, sizeof(buf), "%llus", static_cast<ull>(s));
    else if (s < 3600)
        std::snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<ull>(s / 60), static_cast<ull>(s % 60));
    else if (s < 86400)
        std::snprintf(buf, sizeof(buf), "%lluh%02llum", static_cast<ull>(s / 3600),
                      static_cast<ull>(s / 60 % 60));
    else
        std::snprintf(buf, sizeof(buf), "%llud%02lluh", static_cast<ull>(s / 86400),
                      static_cast<ull>(s / 3600 % 24));
    return buf;
}

std::string format_seconds(double seconds) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%gs", seconds);
    return buf;
}

}  // namespace initwatch::util
