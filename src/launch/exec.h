// The last step of a child initwatch starts (between fork and exec: async-signal-safe only).
#pragma once

namespace initwatch::launch {

// Restores every signal's default disposition and an empty mask (nothing of initwatch's
// signal setup is left to the command: an ignored signal stays ignored across exec), then
// execs argv (PATH searched). On failure the errno goes to err_fd and the child exits 127
// (not found) or 126 (cannot execute).
[[noreturn]] void exec_with_default_signals(char* const* argv, int err_fd);

// In the parent: the errno the child wrote to the pipe's read end `fd` (which it closes), or
// 0 when the exec succeeded (the write end closed on exec) or the child exited first.
int read_exec_errno(int fd);

}  // namespace initwatch::launch
