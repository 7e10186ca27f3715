#include "report/clock.h"

#include <cstdio>
#include <ctime>

#include "util/time.h"

namespace initwatch::report {

namespace {

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

WallClock::WallClock() : offset_ns_(util::realtime_now_ns() - util::monotonic_now_ns()) {}

std::string WallClock::rfc3339(uint64_t monotonic_ns) const {
    return format_utc(to_realtime_ns(monotonic_ns), "%Y-%m-%dT%H:%M:%S", 6) + "Z";
}

std::string WallClock::time_of_day(uint64_t monotonic_ns) const {
    return format_utc(to_realtime_ns(monotonic_ns), "%H:%M:%S", 3);
}

}  // namespace initwatch::report
