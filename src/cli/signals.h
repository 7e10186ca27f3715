// SIGINT, SIGTERM and SIGHUP ask the main loop to stop. What a second one does depends on
// the command: `watch` has nothing to clean up and exits at once (saying so on stderr);
// `run` owns a namespace and a cgroup, so it keeps going and only hurries (stop_hurried()).
#pragma once

#include <string>

namespace initwatch::cli {

void install_stop_handlers();
// The signal that first asked to stop, or 0.
int stop_requested();
// Who sent it, for the line a command prints when it stops: "SIGTERM from pid 812
// (containerd-shim, uid 0)", "SIGINT from the kernel (the terminal)". "" before any signal.
std::string stop_cause();
// `run`: a second stop signal no longer exits at once; it is counted instead.
void keep_running_on_second_signal();
// True once a second stop signal arrived: skip the grace, clean up now.
bool stop_hurried();

}  // namespace initwatch::cli
