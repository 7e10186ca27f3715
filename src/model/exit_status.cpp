#include "model/exit_status.h"

#include <csignal>
#include <cstring>

namespace initwatch::model {

ExitStatus ExitStatus::decode(uint32_t raw) {
    ExitStatus s;
    const int sig = static_cast<int>(raw & 0x7f);
    if (sig == 0) {
        s.exit_code = static_cast<int>((raw >> 8) & 0xff);
    } else {
        s.signal = sig;
        s.core_dumped = (raw & 0x80) != 0;
    }
    return s;
}

int ExitStatus::shell_status() const { return signal ? 128 + *signal : exit_code.value_or(0); }

std::string ExitStatus::describe() const {
    if (signal) return signal_name(*signal) + (core_dumped ? " (core dumped)" : "");
    return "exit " + std::to_string(exit_code.value_or(0));
}

std::string signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev) return std::string("SIG") + abbrev;
    return "signal " + std::to_string(sig);
}

}  // namespace initwatch::model
