// What `run` and `watch -- CMD` share about the command they wrap: the exit statuses CI
// branches on, and (for `watch -- CMD`) the command as an ordinary child of initwatch, its
// stdio untouched and initwatch's stop signals forwarded to it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/exit_status.h"

namespace initwatch::launch {

// A raw wait status as the model decodes a kernel exit code: the same layout.
model::ExitStatus decode_wait(int status);

// The wrapped command's own status as initwatch passes it through: N, or 128+S for a
// signal, except 3, 4 and 125, initwatch's own (a finding, cannot tell, an error of
// initwatch), which become 1: still "the command failed", never a verdict of initwatch's.
int entrypoint_status(const model::ExitStatus& exit);

class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> argv);
    ~ChildProcess();  // SIGKILL to a child still running, reaped within kKillWaitSeconds
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // Forks and execs (PATH searched), with default signal dispositions and an empty signal
    // mask; the child is killed if initwatch dies. Returns the errno of a failed exec (the
    // child then exits 127 or 126), or 0.
    int start();
    // From now on SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to initwatch go to the child
    // instead of stopping initwatch; one the terminal sent to the whole process group (the
    // child got it too) is not sent twice.
    void forward_signals();

    pid_t pid() const { return pid_; }
    // The raw wait status once the child has exited and been reaped.
    std::optional<int> try_wait();

    // SIGTERM, up to grace_s for it to exit, then SIGKILL and up to kKillWaitSeconds; `tick`
    // runs between checks (and paces them). The wait status if it was reaped.
    std::optional<int> stop(double grace_s, const std::function<void()>& tick);

private:
    bool wait_until(double seconds, const std::function<void()>& tick);

    std::vector<std::string> argv_;
    pid_t pid_ = -1;
    std::optional<int> status_;
};

}  // namespace initwatch::launch
