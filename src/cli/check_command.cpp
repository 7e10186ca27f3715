#include <initwatch/error.h>
#include <initwatch/version.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "meta/cgroup_resolver.h"
#include "probe/probe.h"

namespace initwatch::cli {

namespace {

void row(const char* what, const std::string& value) { std::printf("%-13s %s\n", what, value.c_str()); }

std::string bpf_memory_text(const probe::KernelFeatures& features) {
    switch (features.memory_charge) {
        case probe::BpfMemoryCharge::memory_cgroup:
            return "charged to the memory cgroup (5.11+)";
        case probe::BpfMemoryCharge::memlock:
            break;
    }
    std::string text = "charged to RLIMIT_MEMLOCK (before 5.11), ";
    text += features.memlock_bytes == RLIM_INFINITY ? std::string("unlimited")
                                                    : std::to_string(features.memlock_bytes >> 10) + " KiB";
    text += features.memlock_raised ? " (raised by initwatch)" : "";
    if (features.memlock_bytes != RLIM_INFINITY)
        text += ": enough for these maps; without CAP_SYS_RESOURCE initwatch cannot raise it further";
    return text;
}

// `run` ends what its init leaves in the run's cgroup with one write to cgroup.kill (5.14+);
// without it, with SIGKILL to each pid of cgroup.procs, repeated until the cgroup is empty.
// Every child cgroup has the file on a kernel that has it; with no child cgroup to look at,
// the kernel's BTF says.
std::string cgroup_kill_text(const std::string& cgroup2, bool kernel_has_it) {
    if (cgroup2.empty()) return "no cgroup2 mount: `run` gives its init no cgroup of its own";
    bool has = kernel_has_it;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(cgroup2, ec), end; !ec && it != end; it.increment(ec)) {
        if (!it->is_directory(ec) || !std::filesystem::exists(it->path() / "cgroup.procs", ec)) continue;
        has = std::filesystem::exists(it->path() / "cgroup.kill", ec);
        break;
    }
    return has ? "yes (5.14+): `run` kills what its init leaves with one write"
               : "no (before 5.14): `run` kills what its init leaves process by process, from "
                 "cgroup.procs, until the cgroup is empty";
}

std::string killers_text(const probe::KernelFeatures& features) {
    // An OOM record turns a signal record's kernel SIGKILL into the OOM killer's: none without it.
    if (!features.signal_generate)
        return "no signal_generate program (its tracepoint and bpf_get_current_task_btf, 5.11+): "
               "killed_by stays null (OOM kills too), no stop_ignored";
    const std::string text = "signal_generate: the sender of a fatal signal is named (killed_by)";
    switch (features.oom) {
        case probe::OomProbe::task:
            return text + "; mark_victim (task): OOM kills are named";
        case probe::OomProbe::pid:
            return text + "; mark_victim (pid, older kernels): OOM kills are named by pid";
        case probe::OomProbe::none:
            break;
    }
    return text + "; no mark_victim tracepoint: an OOM kill is told as SIGKILL from the kernel";
}

}  // namespace

// Loads and attaches everything `watch` would, says what this kernel gets, and exits.
int check_command(const Options& options) {
    utsname uts{};
    uname(&uts);
    probe::Probe probe(probe::ProbeOptions{options.ring_buffer_bytes, options.btf_path, options.exit_probe});
    const size_t processes = probe.snapshot().size();

    std::string programs;
    for (const auto& name : probe.programs()) programs += (programs.empty() ? "" : ", ") + name;
    const std::string cgroup2 = meta::find_cgroup2_mount("/proc/self/mountinfo", options.host_root);

    row("initwatch", kVersion);
    row("kernel", std::string(uts.release) + " (BTF: " +
                      (options.btf_path.empty() ? "/sys/kernel/btf/vmlinux" : options.btf_path) + ")");
    row("exit probe", probe.exit_has_group_dead()
                          ? "group_dead argument of sched_process_exit (6.16+)"
                          : "signal->live reaching 0, de-duplicated by process key (fallback)");
    row("programs", programs + " (tp_btf, iter/task)");
    row("snapshot", "BPF task iterator: " + std::to_string(processes) + " processes now");
    row("ring buffer", std::to_string(probe.ring_buffer_bytes()) + " bytes");
    row("bpf memory", bpf_memory_text(probe.features()));
    row("cgroup2", cgroup2.empty() ? "not mounted: findings carry no cgroup path or container id" : cgroup2);
    row("killed by", killers_text(probe.features()));
    row("cgroup.kill", cgroup_kill_text(cgroup2, probe.features().cgroup_kill));
    row("result", "ok: initwatch can trace this host");
    return kExitOk;
}

}  // namespace initwatch::cli
