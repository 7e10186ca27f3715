#include "report/clock.h"

#include <ctime>

namespace initwatch::report {

namespace {

uint64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

std::string format_utc(uint64_t realtime_ns, const char* date_fmt, int frac_digits) {
    const time_t secs = static_cast<time_t>(realtime_ns / 1'000'000'000ULL);
    tm utc{};
    gmtime_r(&secs, &utc);
    char date[40];
    strftime(date, sizeof(date), date_fmt, &utc);
    uint64_t frac = realtime_ns % 1'000'000'000ULL;
    for (int i = frac_digits; i < 9; ++i) frac /= 10;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s.%0*llu", date, frac_digits, static_cast<unsigned long long>(frac));
    return buf;
}

}  // namespace

uint64_t monotonic_now_ns() { return clock_ns(CLOCK_MONOTONIC); }

WallClock::WallClock() : offset_ns_(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC)) {}

std::string WallClock::rfc3339(uint64_t monotonic_ns) const {
    return format_utc(to_realtime_ns(monotonic_ns), "%Y-%m-%dT%H:%M:%S", 6) + "Z";
}

std::string WallClock::time_of_day(uint64_t monotonic_ns) const {
    return format_utc(to_realtime_ns(monotonic_ns), "%H:%M:%S", 3);
}

std::string format_duration(uint64_t ns) {
    const uint64_t ms = ns / 1'000'000ULL;
    char buf[32];
    if (ms < 10'000)
        snprintf(buf, sizeof(buf), "%llums", static_cast<unsigned long long>(ms));
    else if (ms < 60'000)
        snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000.0);
    else if (ms < 3'600'000)
        snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<unsigned long long>(ms / 60'000),
                 static_cast<unsigned long long>(ms / 1000 % 60));
    else
        snprintf(buf, sizeof(buf), "%lluh%02llum", static_cast<unsigned long long>(ms / 3'600'000),
                 static_cast<unsigned long long>(ms / 60'000 % 60));
    return buf;
}

}  // namespace initwatch::report
