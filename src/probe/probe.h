// The kernel side's owner: loads and attaches the BPF programs, drains the ring buffer.
// The only code that touches libbpf.
#pragma once

#include <initwatch/events.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/event.h"

namespace initwatch::probe {

// Which exit probe reports a thread group's death.
enum class ExitProbe {
    automatic,   // group_dead where the kernel has it (6.16+), else live_count
    group_dead,  // the tracepoint's group_dead argument
    live_count,  // signal->live reaching 0, de-duplicated by process key (any kernel)
};

// 4 MiB: about 40,000 fork or exit records, over a second of a fork storm (17,000
// forks/s, two records each) while the reader gets no CPU (tools/bench, scale phase).
inline constexpr size_t kDefaultRingBufferBytes = size_t{4} << 20;

struct ProbeOptions {
    size_t ring_buffer_bytes = kDefaultRingBufferBytes;  // power of two, at least one page
    std::string btf_path;  // kernel BTF to use instead of /sys/kernel/btf/vmlinux
    ExitProbe exit_probe = ExitProbe::automatic;
};

// Where the kernel charges the memory of BPF maps and programs.
enum class BpfMemoryCharge {
    memory_cgroup,  // 5.11+: the loading process's memory cgroup, like any kernel memory
    memlock,        // before 5.11: RLIMIT_MEMLOCK, which the probe raises as far as it may
};

// Which mark_victim program names the OOM killer's victim.
enum class OomProbe {
    none,  // no mark_victim tracepoint: an OOM kill is told as a SIGKILL from the kernel
    pid,   // older kernels: TP_PROTO(int pid)
    task,  // newer kernels: TP_PROTO(struct task_struct *task, uid_t uid)
};

// What the running kernel offers, probed at load: the variants chosen, the degradations.
struct KernelFeatures {
    bool exit_has_group_dead = false;  // sched_process_exit's group_dead argument (6.16+)
    BpfMemoryCharge memory_charge = BpfMemoryCharge::memory_cgroup;
    uint64_t memlock_bytes = 0;    // with memlock: RLIMIT_MEMLOCK at load, RLIM_INFINITY if unlimited
    bool memlock_raised = false;   // with memlock: the probe raised it
    bool cgroup_kill = false;      // the kernel has cgroup.kill (5.14+: cgroup_kill_write in its BTF)
    bool signal_generate = false;  // signal_generate in BTF: who sent a fatal signal (killed_by)
    OomProbe oom = OomProbe::none;
};

// The longest argv an exec record carries (the kernel side's buffer, its last NUL aside);
// /proc/PID/cmdline reads of the snapshot are cut at the same length.
inline constexpr size_t kMaxArgvBytes = IW_ARGV_LEN - 1;

// Records the kernel side could not deliver, by reason (index), summed over CPUs.
using DropCounts = std::array<uint64_t, IW_DROP__COUNT>;
const char* drop_reason_name(size_t reason);
// Records lost for good (ring full, ...); argv that could not be read lost no record.
uint64_t records_lost(const DropCounts& drops);

class Probe {
public:
    // Loads and attaches; throws initwatch::Error with a one-line reason on failure (a
    // kernel without what initwatch needs is one line, before libbpf tries).
    explicit Probe(const ProbeOptions& options);
    ~Probe();
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

    // Waits up to timeout_ms for records, then drains the ring, appending decoded events,
    // until about max_bytes of records were read: the ring is the buffer, a step's batch
    // stays small. Returns true when records were left for the next call.
    bool poll(int timeout_ms, std::vector<model::Event>& out, size_t max_bytes = kDefaultPollBytes);
    // 256 KiB: about 60 exec records of full argv, or 3,000 fork or exit records.
    static constexpr size_t kDefaultPollBytes = size_t{256} << 10;

    // Every live process, from a BPF task iterator, as SnapshotEvents without argv,
    // ordered by start time (parents before children).
    std::vector<model::SnapshotEvent> snapshot();

    // Drops counted in the kernel since load, summed over CPUs.
    DropCounts drops() const;
    // Records user space could not decode (a layout mismatch: should stay 0).
    uint64_t malformed() const { return malformed_; }
    // Kernel time spent in each program (kernel.bpf_stats_enabled=1), by program name;
    // empty when the kernel does not count.
    std::vector<std::pair<std::string, uint64_t>> run_time_ns() const;

    // Names of the programs loaded and attached.
    std::vector<std::string> programs() const;
    size_t ring_buffer_bytes() const { return ring_buffer_bytes_; }

    // True when the group_dead argument reports exits, false for the signal->live fallback.
    bool exit_has_group_dead() const { return features_.exit_has_group_dead; }
    const KernelFeatures& features() const { return features_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    KernelFeatures features_;
    size_t ring_buffer_bytes_ = 0;
    uint64_t malformed_ = 0;
    std::vector<model::Event>* sink_ = nullptr;
    size_t poll_bytes_left_ = 0;

    static int on_record(void* ctx, void* data, size_t size);
};

}  // namespace initwatch::probe
