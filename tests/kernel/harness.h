// Runs the real initwatch binary (root, real BPF, real namespaces) and reads its output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../common/subprocess.h"

namespace initwatch::ktest {

// Kernel tests need root. Outside CI a non-root run is skipped (exit 77, ctest's SKIP);
// under CI=true it fails: a green CI run must have exercised the kernel.
void require_root();

struct Result {
    int status = -1;                    // exit status, or 128 + signal
    std::string out;                    // stdout
    std::string err;                    // stderr
    std::vector<nlohmann::json> lines;  // JSON lines written to --output
    std::vector<nlohmann::json> of_type(const std::string& type) const;
    // Findings whose init's argv holds `marker`: host-wide tests judge their own trigger
    // only, whatever else runs on the machine.
    std::vector<nlohmann::json> findings_with(const std::string& marker) const;
};

// Runs `initwatch ARGS...` with `--json --output FILE` added after the subcommand, through
// test::run (tests/common/subprocess.h): stdout and stderr captured, stdin /dev/null, its
// process group killed after timeout_s (and the test FAILs). `env` entries (NAME=VALUE) are
// added to the environment.
Result run_initwatch(const std::string& subcommand, std::vector<std::string> args, double timeout_s = 60,
                     std::vector<std::string> env = {});

// Runs `program ARGV...` (initwatch by default) exactly as given (no --json/--output added).
Result run_raw(std::vector<std::string> argv, double timeout_s = 60, std::vector<std::string> env = {},
               const std::string& program = INITWATCH_BIN);

// The path of tests/kernel/scripts/NAME: shell scripts that tests run as an init.
std::string test_script(const std::string& name);

// A process in the background (a process group of its own), its stdout and stderr written to
// files that can be read while it runs; for `watch`, and `run` driven from outside.
class Background {
public:
    // `program ARGV...`; program is initwatch unless given (e.g. a shell that moves itself
    // into a cgroup, then execs initwatch).
    Background(std::vector<std::string> argv, std::string output_file,
               const std::string& program = INITWATCH_BIN, std::vector<std::string> env = {});
    ~Background();
    // Waits until its stdout or stderr contains `text`; false on timeout or exit.
    bool wait_for_output(const std::string& text, double timeout_s);
    // Waits until its --output file holds a finding whose init's argv holds `marker`.
    bool wait_for_finding(const std::string& marker, double timeout_s);
    // What it has written to stdout and stderr so far.
    std::string output_so_far() const;
    // The port of `--metrics-address HOST:0` it logged at --log-level info; 0 before.
    uint16_t metrics_port() const;
    // The complete JSON lines of its --output file so far.
    std::vector<nlohmann::json> lines_so_far() const;
    // Waits until `done(lines_so_far())` holds; false on timeout or exit.
    bool wait_for_lines(const std::function<bool(const std::vector<nlohmann::json>&)>& done,
                        double timeout_s);
    // Waits for the process to exit; kills it after timeout_s.
    Result finish(double timeout_s);
    pid_t pid() const { return pid_; }

private:
    std::unique_ptr<test::Process> process_;
    pid_t pid_ = -1;
    std::string out_path_, err_path_, output_file_;
};

// `initwatch watch --json` on the whole host in the background (`--duration 90`, plus
// `extra_args`), returned once its probes are attached. Tests pick their own findings by
// cgroup path: other sessions run containers on this machine too.
class HostWatch {
public:
    explicit HostWatch(const std::vector<std::string>& extra_args = {});
    ~HostWatch();  // SIGKILL when stop() was not called
    HostWatch(const HostWatch&) = delete;
    HostWatch& operator=(const HostWatch&) = delete;
    // Waits until its startup snapshot is done (false after timeout_s).
    bool wait_ready(double timeout_s);
    // Waits until `done(lines so far)` holds (false after timeout_s).
    bool wait_for(const std::function<bool(const std::vector<nlohmann::json>&)>& done, double timeout_s);
    // Waits until `n` lines of `type` about `cgroup` are out (false after timeout_s).
    bool wait_for(const std::string& type, const std::string& cgroup, size_t n, double timeout_s);
    // SIGINT (it must exit 0), then everything it wrote.
    std::vector<nlohmann::json> stop();

private:
    std::string output_;
    std::unique_ptr<Background> bg_;
    bool stopped_ = false;
};

// A field of a JSON line, or a "<missing KEY>" string: one missing field fails its own CHECK
// instead of throwing past the others.
nlohmann::json field(const nlohmann::json& j, const std::string& key);
// "N line(s):" and each line, for a test's INFO.
std::string dump_lines(const std::vector<nlohmann::json>& lines);

// The lines of `type` whose container's cgroup_path is `cgroup` (any container when empty).
std::vector<nlohmann::json> lines_of_type(const std::vector<nlohmann::json>& lines, const std::string& type,
                                          const std::string& cgroup = "");

std::string read_file(const std::string& path);
// Writes `text` to path (truncating) with `mode`; REQUIREs success.
void write_file(const std::string& path, const std::string& text, mode_t mode = 0644);
// The non-empty lines of text.
std::vector<std::string> split_lines(const std::string& text);
// Whether path exists (lstat: a dangling symlink counts).
bool path_exists(const std::string& path);
// The value of a field of /proc/PID/status (after "NAME:", blanks kept); empty when it is not there.
std::string proc_status_field(pid_t pid, const std::string& field);
// A field of /proc/PID/status in KiB (VmHWM, RssAnon, ...); -1 when it is not there.
long proc_status_kib(pid_t pid, const std::string& field);
// Runs a shell command and returns its stdout (within 60 s, see the bounded one below).
std::string shell_output(const std::string& command);
std::vector<nlohmann::json> parse_json_lines(const std::string& text);
// Every temp name of the kernel tests starts so, followed by the test process's pid: the
// leftover sweep (fixtures/leftovers.h) removes those of dead test processes.
inline constexpr const char kTempPrefix[] = "/tmp/initwatch-ktest-";
// kTempPrefix PID-N-stem: a new name each call.
std::string temp_path(const std::string& stem);
std::string random_hex(size_t digits);  // lowercase

std::chrono::steady_clock::time_point deadline_in(double seconds);
void sleep_ms(int ms);

// Bounded waits: every wait of a test has a deadline, so that a broken kernel feature or a
// stuck process fails the test with a message instead of hanging CI. A deadline is no
// expectation of speed: tests wait for the event they need, and every deadline and kill
// bound of this harness is scaled by slowdown(), measured on the machine the tests run on
// (qemu's software emulation under tools/vmtest is 5 to 10 times slower than a host).
//
// How much slower than a quiet host this machine spawns a process now (1 there), measured
// once per test run; and `seconds` scaled by it.
double slowdown();
double patience(double seconds);

// Reaps pid (a child) once it exits, within timeout_s: its status (exit status, or 128 +
// signal), or nullopt on timeout (it is left running).
std::optional<int> wait_exit(pid_t pid, double timeout_s);
// SIGKILL to pid, then reaps it; FAILs if even that takes over timeout_s.
int kill_and_reap(pid_t pid, double timeout_s = 10);
// Opens a FIFO without blocking: for writing it waits (polling) until a reader has it
// open. -1 with errno ETIMEDOUT when none came within timeout_s.
int open_fifo(const std::string& path, int flags, double timeout_s);
// Writes `text` into a FIFO whose reader must open it within timeout_s; false if none did.
bool write_fifo(const std::string& path, const std::string& text, double timeout_s);
// Reads fd (a pipe or FIFO, made non-blocking) until end of file; nullopt if the writer
// has not closed it within timeout_s.
std::optional<std::string> read_until_eof(int fd, double timeout_s);
// Runs `sh -c command` in a process group of its own, stdout and stderr ours; its exit
// status. FAILs after killing the group if it runs over timeout_s.
int shell(const std::string& command, double timeout_s);
// shell_output with a deadline: stdout until its end of file (a background process that
// keeps it open counts as running); the group is killed after timeout_s, and the test FAILs.
std::string shell_output(const std::string& command, double timeout_s);

}  // namespace initwatch::ktest
