// The one exception type for fatal user and environment errors: caught in main, printed
// as one line, exit status 2.
#pragma once

#include <stdexcept>
#include <string>

namespace initwatch {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Documented exit statuses of the initwatch command.
enum ExitStatusCode : int {
    kExitOk = 0,
    kExitError = 2,    // initwatch itself failed: bad arguments, no BPF, no permission
    kExitFinding = 3,  // `run`: init exited leaving processes behind
    kExitNotFound = 127,  // `run`: the command does not exist
};

}  // namespace initwatch
