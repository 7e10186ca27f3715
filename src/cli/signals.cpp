#include "cli/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace initwatch::cli {

namespace {

std::atomic<int> g_stop{0};

void on_stop(int sig) {
    int expected = 0;
    if (!g_stop.compare_exchange_strong(expected, sig)) _exit(128 + sig);
}

}  // namespace

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A closed pipe shows up as a failed write, which ends the program quietly.
    signal(SIGPIPE, SIG_IGN);
}

int stop_requested() { return g_stop.load(); }

}  // namespace initwatch::cli
