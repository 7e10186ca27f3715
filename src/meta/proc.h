// What /proc says of a host process.
#pragma once

#include <string>

#include "util/file.h"

namespace initwatch::meta {

// /proc/PID/cmdline, at most max_bytes of it (the kernel side's argv bound): NUL-separated
// arguments, empty for kernel threads and zombies; not_found when the pid is gone.
util::FileRead read_cmdline(uint32_t pid, size_t max_bytes, const std::string& proc_root = "/proc");

}  // namespace initwatch::meta
