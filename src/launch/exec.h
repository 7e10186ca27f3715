// The last step of a child initwatch starts (between fork and exec: async-signal-safe only).
#pragma once

namespace initwatch::launch {

// Restores every signal's default disposition and an empty mask (nothing of initwatch's
// signal setup is left to the command: an ignored signal stays ignored across exec), then
// execs argv (PATH searched). On failure the errno goes to err_fd and the child exits 127
// (not found) or 126 (cannot execute).
[[noreturn]] void exec_with_default_signals(char* const* argv, int err_fd);

}  // namespace initwatch::launch
