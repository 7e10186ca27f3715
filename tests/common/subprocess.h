// The tests' one way to run a program: argv, environment, stdin, where stdout and stderr go
// (captured, with a byte bound; a file; inherited; /dev/null), and a deadline after which its
// whole process group is killed. No Catch2 here: unit and kernel tests both use it, and say
// themselves what a failure means.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace initwatch::test {

// Where one of the child's output streams goes.
struct Stream {
    enum class To { capture, file, inherit, discard };
    To to = To::capture;
    std::string path;  // To::file: appended to (created 0644); stdout and stderr may share it

    static Stream captured() { return {}; }
    static Stream file(std::string path) { return {To::file, std::move(path)}; }
    static Stream inherited() { return {To::inherit, ""}; }
    static Stream discarded() { return {To::discard, ""}; }
};

struct Command {
    std::vector<std::string> argv;     // argv[0] is also the program unless `program` is set
    std::string program;               // what to execute: a path, or a name looked up in PATH
    std::vector<std::string> env;      // NAME=VALUE, set on top of the inherited environment
    std::optional<std::string> input;  // stdin: these bytes, then end of file; none: /dev/null
    Stream out, err;                   // stdout and stderr (captured by default)
    // The captured bytes kept of each stream; the rest is read and thrown away (truncated).
    size_t output_limit = 16u << 20;
    // Captured streams: also wait for their end of file, not only for the process (a
    // background process that keeps stdout open counts as still running).
    bool until_eof = false;
    double timeout_s = 60;  // for run(): then SIGKILL to the process group
};

struct Outcome {
    int status = -1;         // exit status, or 128 + signal; -1 when it did not start or end
    int signal = 0;          // the signal that ended it, 0 when it exited
    bool timed_out = false;  // the deadline passed: the group was killed
    std::string out, err;    // captured bytes (up to output_limit each)
    bool out_truncated = false, err_truncated = false;
    std::string error;  // why it could not start, or was not reaped; empty when it ran
    double seconds = 0;

    bool exited() const { return error.empty() && !timed_out && signal == 0; }
    // One line for a failure message: the status and how the process ended.
    std::string describe() const;
};

// A started process, the leader of a process group of its own, with stdin from /dev/null
// unless given, and no descriptor of ours inherited but 0, 1 and 2.
class Process {
public:
    explicit Process(const Command& command);
    // A process still running is SIGKILLed with its group and reaped (bounded).
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    bool started() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    // True while it runs; reaps it once it has exited (captured output is read meanwhile).
    bool running();
    // Waits until it exits (and, with until_eof, its captured streams end), up to timeout_s;
    // then SIGKILLs the group and reaps it.
    Outcome wait(double timeout_s);
    // Gives the process up: no longer killed or waited for here. Its pid.
    pid_t release();

private:
    void pump(int timeout_ms);
    bool reap();
    void drain();

    Command command_;
    pid_t pid_ = -1;
    std::chrono::steady_clock::time_point began_;
    int out_fd_ = -1, err_fd_ = -1, in_fd_ = -1;
    size_t input_sent_ = 0;
    std::optional<int> wait_status_;
    bool reaped_elsewhere_ = false;  // ECHILD: another waitpid took it
    Outcome outcome_;
};

// Starts `command` and waits for it within command.timeout_s.
Outcome run(const Command& command);

// A program's path: `name` itself when it holds a '/', else the first executable regular
// file `name` in PATH, then in `extra_dirs`; "" when there is none.
std::string find_in_path(const std::string& name, const std::vector<std::string>& extra_dirs = {});

}  // namespace initwatch::test
