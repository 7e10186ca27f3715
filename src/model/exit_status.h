// The one place a raw wait status is decoded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace initwatch::model {

struct ExitStatus {
    std::optional<int> exit_code;  // set when the process exited; 0 is a value
    std::optional<int> signal;     // set when a signal terminated it
    bool core_dumped = false;

    // `raw` is task->exit_code: exit value in bits 15..8, core flag in bit 7, signal in 6..0.
    static ExitStatus decode(uint32_t raw);

    // As a shell reports it: the exit code, or 128 + the signal.
    int shell_status() const;
    // "exit 0", "SIGKILL", "SIGSEGV (core dumped)"
    std::string describe() const;
};

// "SIGTERM" for 15; "signal 42" for what has no name.
std::string signal_name(int sig);

}  // namespace initwatch::model
