// What /proc says of a host process.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "model/argv.h"

namespace initwatch::meta {

// /proc/PID/cmdline split into arguments; empty for kernel threads, zombies or a pid gone.
// At most max_bytes are read, like the kernel side's argv bound.
model::Argv read_cmdline(pid_t pid, size_t max_bytes, bool& truncated,
                                      const std::string& proc_root = "/proc");

}  // namespace initwatch::meta
