#include "probe/probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <initwatch/error.h>
#include <linux/capability.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "initwatch.skel.h"
#include "probe/decode.h"
#include "util/errno_text.h"

namespace initwatch::probe {

namespace {

constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    // One message can be a whole verifier log (its error at the end): not cut.
    va_list again;
    va_copy(again, args);
    const int n = vsnprintf(nullptr, 0, fmt, args);
    if (n <= 0) {
        va_end(again);
        return 0;
    }
    std::string line(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(line.data(), line.size(), fmt, again);
    va_end(again);
    line.resize(static_cast<size_t>(n));
    while (!line.empty() && line.back() == '\n') line.pop_back();
    // libbpf's warnings are often expected (probing features): keep them at debug.
    spdlog::log(level == LIBBPF_DEBUG ? spdlog::level::trace : spdlog::level::debug, "{}", line);
    return 0;
}

using util::errno_text;

// Whether enum `type` of the kernel's BTF has the enumerator `name`: the kernel's own
// list of map types and helpers says what it implements, without loading anything (and so
// without the permission a probe load would need).
bool btf_enum_has(const struct btf* btf, const char* type, const char* name) {
    const int id = btf__find_by_name_kind(btf, type, BTF_KIND_ENUM);
    if (id <= 0) return false;
    const struct btf_type* t = btf__type_by_id(btf, id);
    const struct btf_enum* e = btf_enum(t);
    for (__u16 i = 0; i < btf_vlen(t); ++i, ++e)
        if (std::strcmp(btf__name_by_offset(btf, e->name_off), name) == 0) return true;
    return false;
}

// What the kernel's BTF says, read before anything is loaded: a kernel that lacks what
// initwatch needs is one line here, not a libbpf failure. tp_btf programs need each
// tracepoint's btf_trace_<name> type (5.5+); the ring buffer and the startup snapshot's task
// iterator came in 5.8; 6.16 added `group_dead` to sched_process_exit. Before 5.11 the
// kernel charges BPF memory to RLIMIT_MEMLOCK: bpf_ktime_get_coarse_ns came in the same
// release as memory cgroup accounting, and is libbpf's own test for it. cgroup.kill (5.14+)
// is written through cgroup_kill_write.
struct BtfFeatures {
    bool exit_has_group_dead = false;
    bool memory_cgroup = false;
    bool cgroup_kill = false;
    bool signal_generate = false;
    OomProbe oom = OomProbe::none;
};

// The func proto of tracepoint `name`'s btf_trace_ typedef (its first parameter is the
// context pointer), or nullptr.
const struct btf_type* tracepoint_proto(const struct btf* btf, const char* name) {
    const int id = btf__find_by_name_kind(btf, (std::string("btf_trace_") + name).c_str(), BTF_KIND_TYPEDEF);
    if (id <= 0) return nullptr;
    const struct btf_type* t = btf__type_by_id(btf, id);
    t = btf__type_by_id(btf, t->type);  // pointer
    if (t && btf_is_ptr(t)) t = btf__type_by_id(btf, t->type);
    return t && btf_is_func_proto(t) ? t : nullptr;
}

BtfFeatures read_btf_features(const std::string& btf_path) {
    struct btf* btf = btf__parse(btf_path.c_str(), nullptr);
    if (!btf)
        throw Error("cannot read kernel BTF from " + btf_path + ": " + errno_text(errno) +
                    " (initwatch needs a kernel built with CONFIG_DEBUG_INFO_BTF)");
    std::string missing;
    auto lacks = [&](const std::string& what) { missing += (missing.empty() ? "" : ", ") + what; };
    for (const char* tracepoint : {"sched_process_fork", "sched_process_exec", "sched_process_exit"})
        if (btf__find_by_name_kind(btf, (std::string("btf_trace_") + tracepoint).c_str(), BTF_KIND_TYPEDEF) <=
            0)
            lacks(std::string(tracepoint) + " tracepoint");
    if (!btf_enum_has(btf, "bpf_map_type", "BPF_MAP_TYPE_RINGBUF")) lacks("BPF ring buffer");
    if (btf__find_by_name_kind(btf, "bpf_iter_task", BTF_KIND_FUNC) <= 0) lacks("BPF task iterator");

    BtfFeatures features;
    features.memory_cgroup = btf_enum_has(btf, "bpf_func_id", "BPF_FUNC_ktime_get_coarse_ns");
    features.cgroup_kill = btf__find_by_name_kind(btf, "cgroup_kill_write", BTF_KIND_FUNC) > 0;
    if (const struct btf_type* t = tracepoint_proto(btf, "sched_process_exit"))
        features.exit_has_group_dead = btf_vlen(t) >= 3;  // (void *, task, group_dead)
    // (void *, sig, info, task, group, result) since 4.20's kernel_siginfo; the program names
    // the sender through bpf_get_current_task_btf, 5.11+ (5.10's verifier: "invalid func
    // unknown#158", and the whole object would not load).
    if (const struct btf_type* t = tracepoint_proto(btf, "signal_generate"))
        features.signal_generate =
            btf_vlen(t) == 6 && btf_enum_has(btf, "bpf_func_id", "BPF_FUNC_get_current_task_btf");
    // mark_victim: (void *, int pid) on older kernels, (void *, struct task_struct *, uid_t) on newer.
    if (const struct btf_type* t = tracepoint_proto(btf, "mark_victim")) {
        const struct btf_param* params = btf_params(t);
        const struct btf_type* first = btf_vlen(t) >= 2 ? btf__type_by_id(btf, params[1].type) : nullptr;
        if (btf_vlen(t) == 3 && first && btf_is_ptr(first))
            features.oom = OomProbe::task;
        else if (btf_vlen(t) == 2 && first)
            features.oom = OomProbe::pid;
    }
    btf__free(btf);
    if (!missing.empty())
        throw Error("this kernel has no " + missing + " (kernel BTF at " + btf_path +
                    "): initwatch needs Linux 5.8 or later");
    return features;
}

// Before 5.11 BPF maps and programs count against the loader's RLIMIT_MEMLOCK; the ring
// buffer alone is 4 MiB, over the 64 KiB of older defaults. There the limit is raised to
// unlimited (which needs CAP_SYS_RESOURCE), else as far as the hard limit. libbpf tries the
// same unlimited raise at load (Debian 12's libbpf 1.1 does not export the call that turns
// it off): a no-op after this one, refused like it without CAP_SYS_RESOURCE.
void prepare_memlock(KernelFeatures& features) {
    rlimit limit{};
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) limit = {0, 0};
    if (limit.rlim_cur != RLIM_INFINITY) {
        const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
        if (setrlimit(RLIMIT_MEMLOCK, &unlimited) == 0) {
            limit = unlimited;
            features.memlock_raised = true;
        } else if (limit.rlim_cur < limit.rlim_max) {
            limit.rlim_cur = limit.rlim_max;
            features.memlock_raised = setrlimit(RLIMIT_MEMLOCK, &limit) == 0;
            if (!features.memlock_raised) getrlimit(RLIMIT_MEMLOCK, &limit);
        }
    }
    features.memlock_bytes = limit.rlim_cur;
    spdlog::debug("BPF memory is charged to RLIMIT_MEMLOCK (before 5.11): {}{}",
                  limit.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(limit.rlim_cur) + " bytes",
                  features.memlock_raised ? " (raised)" : "");
}

bool has_effective_capability(int cap) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1;
}

std::string load_error_text(int err, const KernelFeatures& features) {
    const bool may_load = has_effective_capability(CAP_BPF) || has_effective_capability(CAP_SYS_ADMIN);
    if ((err == -EPERM || err == -EACCES) && may_load && features.memory_charge == BpfMemoryCharge::memlock &&
        features.memlock_bytes != RLIM_INFINITY)
        return "cannot load BPF programs: " + errno_text(err) +
               " (before 5.11 the kernel charges BPF memory to RLIMIT_MEMLOCK, " +
               std::to_string(features.memlock_bytes >> 10) +
               " KiB here: add CAP_SYS_RESOURCE, or raise the limit, e.g. ulimit -l unlimited)";
    if (err == -EPERM || err == -EACCES)
        return "cannot load BPF programs: " + errno_text(err) +
               " (run as root, or with CAP_BPF and CAP_PERFMON)";
    return "cannot load BPF programs: " + errno_text(err) + " (run with --log-level debug for details)";
}

}  // namespace

const char* drop_reason_name(size_t reason) {
    switch (reason) {
        case IW_DROP_RINGBUF_FULL:
            return "ringbuf_full";
        case IW_DROP_EXITED_MAP_FULL:
            return "exit_map_full";
        case IW_DROP_ARGV_READ:
            return "argv_unreadable";
        case IW_DROP_KILLER_RINGBUF_FULL:
            return "killer_unrecorded";
        default:
            return "unknown";
    }
}

uint64_t records_lost(const DropCounts& d) { return d[IW_DROP_RINGBUF_FULL] + d[IW_DROP_EXITED_MAP_FULL]; }

struct Probe::Impl {
    initwatch_bpf* skel = nullptr;
    ring_buffer* rb = nullptr;

    ~Impl() {
        ring_buffer__free(rb);
        initwatch_bpf__destroy(skel);
    }
};

Probe::Probe(const ProbeOptions& options) : impl_(std::make_unique<Impl>()) {
    libbpf_set_print(libbpf_print);
    const size_t rb = options.ring_buffer_bytes;
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (rb < page || (rb & (rb - 1)) != 0)
        throw Error("ring buffer size " + std::to_string(rb) + " must be a power of two of at least " +
                    std::to_string(page));

    const std::string btf_path = options.btf_path.empty() ? kKernelBtf : options.btf_path;
    const BtfFeatures kernel = read_btf_features(btf_path);
    const bool kernel_has_group_dead = kernel.exit_has_group_dead;
    if (options.exit_probe == ExitProbe::group_dead && !kernel_has_group_dead)
        throw Error(
            "--exit-probe group-dead: this kernel's sched_process_exit has no group_dead argument (6.16+)");
    features_.exit_has_group_dead = options.exit_probe == ExitProbe::automatic
                                        ? kernel_has_group_dead
                                        : options.exit_probe == ExitProbe::group_dead;
    features_.cgroup_kill = kernel.cgroup_kill;
    features_.signal_generate = kernel.signal_generate;
    features_.oom = kernel.oom;
    features_.memory_charge =
        kernel.memory_cgroup ? BpfMemoryCharge::memory_cgroup : BpfMemoryCharge::memlock;
    if (!kernel.memory_cgroup) prepare_memlock(features_);

    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!options.btf_path.empty()) open_opts.btf_custom_path = options.btf_path.c_str();
    impl_->skel = initwatch_bpf__open_opts(&open_opts);
    if (!impl_->skel) throw Error("cannot open the BPF object: " + errno_text(errno));

    auto* skel = impl_->skel;
    ring_buffer_bytes_ = rb;
    bpf_map__set_max_entries(skel->maps.events, static_cast<__u32>(rb));
    skel->rodata->wakeup_bytes = rb / 4;
    bpf_program__set_autoload(skel->progs.handle_exit_group_dead, features_.exit_has_group_dead);
    bpf_program__set_autoload(skel->progs.handle_exit_legacy, !features_.exit_has_group_dead);
    bpf_program__set_autoattach(skel->progs.snapshot_tasks, false);  // attached on demand
    bpf_program__set_autoload(skel->progs.handle_signal, features_.signal_generate);
    bpf_program__set_autoload(skel->progs.handle_oom_victim, features_.oom == OomProbe::task);
    bpf_program__set_autoload(skel->progs.handle_oom_victim_pid, features_.oom == OomProbe::pid);

    if (int err = initwatch_bpf__load(skel)) throw Error(load_error_text(err, features_));
    if (int err = initwatch_bpf__attach(skel)) throw Error("cannot attach BPF programs: " + errno_text(err));

    impl_->rb = ring_buffer__new(bpf_map__fd(skel->maps.events), &Probe::on_record, this, nullptr);
    if (!impl_->rb) throw Error("cannot open the BPF ring buffer: " + errno_text(errno));
    spdlog::debug("probes attached (exit tracepoint: {}), ring buffer {} bytes",
                  features_.exit_has_group_dead ? "group_dead argument" : "signal->live fallback", rb);
}

Probe::~Probe() = default;

namespace {
// on_record's answer once a poll's byte bound is reached: libbpf stops draining and keeps
// the rest for the next poll (the record just handled is consumed).
constexpr int kBatchFull = -EFBIG;
}  // namespace

int Probe::on_record(void* ctx, void* data, size_t size) {
    auto* self = static_cast<Probe*>(ctx);
    if (auto ev = decode_record(data, size))
        self->sink_->push_back(std::move(*ev));
    else
        ++self->malformed_;
    if (size >= self->poll_bytes_left_) {
        self->poll_bytes_left_ = 0;
        return kBatchFull;
    }
    self->poll_bytes_left_ -= size;
    return 0;
}

bool Probe::poll(int timeout_ms, std::vector<model::Event>& out, size_t max_bytes) {
    sink_ = &out;
    poll_bytes_left_ = std::max<size_t>(max_bytes, 1);
    // Records are submitted mostly without a wake-up: poll waits for the urgent ones
    // (a namespace init's exit, a filling ring) or the timeout, then consume drains the rest.
    int n = ring_buffer__poll(impl_->rb, timeout_ms);
    if (n != kBatchFull) {
        if (n < 0 && n != -EINTR) throw Error("reading the BPF ring buffer failed: " + errno_text(n));
        n = ring_buffer__consume(impl_->rb);
        if (n < 0 && n != kBatchFull) throw Error("reading the BPF ring buffer failed: " + errno_text(n));
    }
    sink_ = nullptr;
    return n == kBatchFull;
}

std::vector<model::SnapshotEvent> Probe::snapshot() {
    bpf_link* link = bpf_program__attach_iter(impl_->skel->progs.snapshot_tasks, nullptr);
    if (!link) throw Error("cannot attach the BPF task iterator: " + errno_text(errno));
    const int fd = bpf_iter_create(bpf_link__fd(link));
    if (fd < 0) {
        const int err = errno;
        bpf_link__destroy(link);
        throw Error("cannot start the BPF task iterator: " + errno_text(err));
    }
    std::vector<char> data;
    char buf[64 * 1024];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) data.insert(data.end(), buf, buf + n);
    const int read_errno = n < 0 ? errno : 0;
    ::close(fd);
    bpf_link__destroy(link);
    if (read_errno) throw Error("reading the BPF task iterator failed: " + errno_text(read_errno));

    std::vector<model::SnapshotEvent> out;
    for (size_t off = 0; off + sizeof(iw_fork_event) <= data.size(); off += sizeof(iw_fork_event)) {
        auto ev = decode_record(data.data() + off, sizeof(iw_fork_event));
        if (ev && std::holds_alternative<model::SnapshotEvent>(*ev))
            out.push_back(std::move(std::get<model::SnapshotEvent>(*ev)));
        else
            ++malformed_;
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.task.key.start_ns < b.task.key.start_ns; });
    return out;
}

std::vector<std::string> Probe::programs() const {
    std::vector<std::string> names;
    bpf_program* prog;
    bpf_object__for_each_program(prog, impl_->skel->obj) {
        if (bpf_program__autoload(prog)) names.emplace_back(bpf_program__name(prog));
    }
    return names;
}

std::vector<std::pair<std::string, uint64_t>> Probe::run_time_ns() const {
    std::vector<std::pair<std::string, uint64_t>> out;
    bpf_program* prog;
    bpf_object__for_each_program(prog, impl_->skel->obj) {
        const int fd = bpf_program__fd(prog);
        if (fd < 0) continue;
        bpf_prog_info info{};
        __u32 len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.run_cnt > 0)
            out.emplace_back(bpf_program__name(prog), info.run_time_ns);
    }
    return out;
}

DropCounts Probe::drops() const {
    DropCounts total{};
    const int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) return total;
    std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpus));
    const int fd = bpf_map__fd(impl_->skel->maps.drops);
    for (uint32_t reason = 0; reason < IW_DROP__COUNT; ++reason) {
        if (bpf_map_lookup_elem(fd, &reason, per_cpu.data()) != 0) continue;
        for (uint64_t v : per_cpu) total[reason] += v;
    }
    return total;
}

}  // namespace initwatch::probe
