#include "cli/signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <initializer_list>

#include "model/exit_status.h"
#include "util/file.h"

namespace initwatch::cli {

namespace {

std::atomic<int> g_stop{0};
std::atomic<int> g_count{0};
std::atomic<bool> g_exit_on_second{true};
// The first stop signal's sender, from its siginfo.
std::atomic<pid_t> g_sender_pid{0};
std::atomic<uid_t> g_sender_uid{0};
std::atomic<int> g_code{0};

// Async-signal-safe: "initwatch: a second SIGTERM: exiting at once (status 143)\n".
void say_second_signal(int sig) {
    char line[96];
    size_t n = 0;
    auto put = [&](const char* s) {
        while (*s && n < sizeof line) line[n++] = *s++;
    };
    auto put_number = [&](int v) {
        char digits[12];
        int d = 0;
        do digits[d++] = static_cast<char>('0' + v % 10);
        while ((v /= 10) && d < 12);
        while (d && n < sizeof line) line[n++] = digits[--d];
    };
    put("initwatch: a second ");
    put(sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP");
    put(": exiting at once (status ");
    put_number(128 + sig);
    put(")\n");
    ssize_t ignored = write(STDERR_FILENO, line, n);
    (void)ignored;
}

void on_stop(int sig, siginfo_t* info, void*) {
    int expected = 0;
    if (g_stop.compare_exchange_strong(expected, sig) && info) {
        g_sender_pid.store(info->si_pid);
        g_sender_uid.store(info->si_uid);
        g_code.store(info->si_code);
    }
    if (g_count.fetch_add(1) >= 1 && g_exit_on_second.load()) {
        say_second_signal(sig);
        _exit(128 + sig);
    }
}

}  // namespace

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_sigaction = on_stop;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    // A closed pipe shows up as a failed write, which the command reports and stops on.
    signal(SIGPIPE, SIG_IGN);
}

int stop_requested() { return g_stop.load(); }

std::string stop_cause() {
    const int sig = g_stop.load();
    if (!sig) return {};
    std::string cause = model::signal_name(sig);
    const int code = g_code.load();
    // SI_USER (kill), SI_QUEUE (sigqueue), SI_TKILL (tgkill): a process sent it; SI_KERNEL or
    // a positive code: the kernel did (a terminal's ^C or hang-up).
    if (code == SI_USER || code == SI_QUEUE || code == SI_TKILL) {
        const pid_t pid = g_sender_pid.load();
        cause += " from pid " + std::to_string(pid);
        const std::string comm = util::proc_comm(pid);
        cause += " (" + (comm.empty() ? std::string("gone") : comm) + ", uid " +
                 std::to_string(g_sender_uid.load()) + ")";
    } else {
        cause += sig == SIGINT || sig == SIGHUP ? " from the kernel (the terminal)" : " from the kernel";
    }
    return cause;
}

void keep_running_on_second_signal() { g_exit_on_second.store(false); }

bool stop_hurried() { return g_count.load() >= 2; }

}  // namespace initwatch::cli
