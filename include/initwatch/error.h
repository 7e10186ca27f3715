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

// Documented exit statuses of the initwatch command (README "Use"). `run` passes its
// init's own status through, so its own verdicts must not collide with one: see
// run_command.cpp for why these values.
enum ExitStatusCode : int {
    kExitOk = 0,
    kExitEntrypointFailed = 1,  // `run`: init's own status was 3, 4 or 125, which are reserved
    kExitError = 2,       // `watch`, `check`: initwatch itself failed: bad arguments, no BPF, no permission
    kExitFinding = 3,     // `run`: init exited leaving processes behind
    kExitCannotTell = 4,  // `run`, the gate: records were lost and no finding was made
    kExitRunError = 125,  // `run`: initwatch itself failed (2 there is an init's own status)
    kExitCannotExecute = 126,  // `run`: the command is not executable
    kExitNotFound = 127,       // `run`: the command does not exist
};

}  // namespace initwatch
