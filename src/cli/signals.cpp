#include "cli/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <initializer_list>

namespace initwatch::cli {

namespace {

std::atomic<int> g_stop{0};
std::atomic<int> g_count{0};
std::atomic<bool> g_exit_on_second{true};

void on_stop(int sig) {
    int expected = 0;
    g_stop.compare_exchange_strong(expected, sig);
    if (g_count.fetch_add(1) >= 1 && g_exit_on_second.load()) _exit(128 + sig);
}

}  // namespace

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    // A closed pipe shows up as a failed write, which ends the program quietly.
    signal(SIGPIPE, SIG_IGN);
}

int stop_requested() { return g_stop.load(); }

void keep_running_on_second_signal() { g_exit_on_second.store(false); }

bool stop_hurried() { return g_count.load() >= 2; }

}  // namespace initwatch::cli
