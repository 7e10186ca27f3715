#include "launch/exec.h"

#include <initwatch/error.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace initwatch::launch {

void exec_with_default_signals(char* const* argv, int err_fd) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(argv[0], argv);
    const int err = errno;
    (void)!::write(err_fd, &err, sizeof(err));
    _exit(err == ENOENT ? kExitNotFound : kExitCannotExecute);
}

}  // namespace initwatch::launch
