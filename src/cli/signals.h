// SIGINT/SIGTERM ask the main loop to stop; a second one exits at once.
#pragma once

namespace initwatch::cli {

void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_requested();

}  // namespace initwatch::cli
