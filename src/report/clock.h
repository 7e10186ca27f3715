// Events carry CLOCK_MONOTONIC; people read wall-clock time (util/time.h has the clocks).
#pragma once

#include <cstdint>
#include <string>

namespace initwatch::report {

class WallClock {
public:
    WallClock();  // measures the realtime - monotonic offset once
    uint64_t to_realtime_ns(uint64_t monotonic_ns) const { return monotonic_ns + offset_ns_; }
    // 2026-11-27T21:14:03.512345Z
    std::string rfc3339(uint64_t monotonic_ns) const;
    // 21:14:03.512 (UTC)
    std::string time_of_day(uint64_t monotonic_ns) const;

private:
    uint64_t offset_ns_;
};

}  // namespace initwatch::report
