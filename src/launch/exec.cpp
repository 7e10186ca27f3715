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

int read_exec_errno(int fd) {
    int exec_errno = 0;
    ssize_t n;
    do n = ::read(fd, &exec_errno, sizeof(exec_errno));
    while (n < 0 && errno == EINTR);
    ::close(fd);
    return n == sizeof(exec_errno) ? exec_errno : 0;
}

}  // namespace initwatch::launch
