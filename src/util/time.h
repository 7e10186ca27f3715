// Clocks and the one duration format of every output.
#pragma once

#include <cstdint>
#include <string>

namespace initwatch::util {

// CLOCK_MONOTONIC, as the kernel's event timestamps.
uint64_t monotonic_now_ns();
// CLOCK_REALTIME.
uint64_t realtime_now_ns();

// The two largest units, like kubectl's ages: "850ms", "4.2s", "42s", "2m05s", "1h02m",
// "3d04h".
std::string format_duration(uint64_t ns);
// A number of seconds as the command line gave it: "12s", "0.5s".
std::string format_seconds(double seconds);

}  // namespace initwatch::util
