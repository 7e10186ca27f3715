#include <sys/utsname.h>

#include <cstdio>
#include <string>

#include <initwatch/error.h>
#include <initwatch/version.h>

#include "cli/commands.h"
#include "meta/cgroup_resolver.h"
#include "probe/probe.h"

namespace initwatch::cli {

namespace {

void row(const char* what, const std::string& value) { std::printf("%-13s %s\n", what, value.c_str()); }

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
    row("cgroup2", cgroup2.empty() ? "not mounted: findings carry no cgroup path or container id" : cgroup2);
    row("result", "ok: initwatch can trace this host");
    return kExitOk;
}

}  // namespace initwatch::cli
