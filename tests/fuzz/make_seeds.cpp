// Writes the starting corpus of each fuzz target, and its dictionary, into OUTDIR:
//   OUTDIR/<target>/<name>   OUTDIR/<target>.dict
// The decode seeds are made from include/initwatch/events.h, so they follow its layout.
#include <initwatch/events.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Bytes = std::string;

std::string out_dir;

void write_file(const std::string& path, const Bytes& content) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(content.data(), 1, content.size(), f) != content.size() || std::fclose(f) != 0) {
        std::fprintf(stderr, "make_seeds: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
        std::exit(1);
    }
}

void make_dir(const std::string& path) {
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
        std::fprintf(stderr, "make_seeds: cannot create %s: %s\n", path.c_str(), std::strerror(errno));
        std::exit(1);
    }
}

void write_seeds(const std::string& target, const std::vector<Bytes>& seeds) {
    make_dir(out_dir + "/" + target);
    for (size_t i = 0; i < seeds.size(); ++i)
        write_file(out_dir + "/" + target + "/seed-" + std::to_string(i), seeds[i]);
}

// libFuzzer's dictionary format: one quoted token per line, \xNN for other bytes.
void write_dict(const std::string& target, const std::vector<std::string>& tokens) {
    std::string text;
    for (const auto& t : tokens) text += "\"" + t + "\"\n";
    write_file(out_dir + "/" + target + ".dict", text);
}

// --- fuzz_decode: record streams in the target's framing (16-bit length, record) ----------

template <typename T>
Bytes raw(const T& value) {
    return Bytes(reinterpret_cast<const char*>(&value), sizeof(value));
}

Bytes frame(const Bytes& record) {
    const size_t n = record.size();
    return Bytes{static_cast<char>(n & 0xff), static_cast<char>(n >> 8)} + record;
}

struct Proc {
    uint32_t pid;
    uint64_t start_ns;
    uint32_t pidns;
    uint32_t ns_pid;
    uint32_t ns_level;
    uint64_t cgroup;
};

iw_task task_of(const Proc& p, const Proc& parent, uint32_t flags, const char* comm) {
    iw_task t{};
    t.key = {p.pid, 0, p.start_ns};
    t.parent = {parent.pid, 0, parent.start_ns};
    t.cgroup_id = p.cgroup;
    t.pidns_inum = p.pidns;
    t.ns_pid = p.ns_pid;
    t.ns_level = p.ns_level;
    t.flags = flags;
    std::strncpy(t.comm, comm, sizeof(t.comm));
    return t;
}

Bytes fork_record(uint64_t ts, const Proc& p, const Proc& parent, const char* comm,
                  uint16_t type = IW_EVENT_FORK) {
    iw_fork_event rec{};
    rec.hdr = {ts, type, IW_EVENTS_VERSION, 0};
    rec.task = task_of(p, parent, 0, comm);
    return frame(raw(rec));
}

// Arguments as the kernel lays them out: each one followed by a NUL.
Bytes argv_area(const std::vector<std::string>& argv) {
    Bytes area;
    for (const auto& a : argv) area += a + '\0';
    return area;
}

Bytes exec_record(uint64_t ts, const Proc& p, const Proc& parent, uint32_t flags,
                  const std::vector<std::string>& argv) {
    iw_exec_event rec{};
    rec.hdr = {ts, IW_EVENT_EXEC, IW_EVENTS_VERSION, 0};
    const std::string comm = argv[0].substr(argv[0].rfind('/') + 1);
    rec.task = task_of(p, parent, flags, comm.c_str());
    rec.old_pid = p.pid;
    std::strncpy(rec.filename, argv[0].c_str(), sizeof(rec.filename) - 1);
    const Bytes area = argv_area(argv);
    rec.argv_len = static_cast<uint32_t>(area.size());
    std::memcpy(rec.argv, area.data(), area.size());
    return frame(raw(rec).substr(0, IW_EXEC_EVENT_FIXED_SIZE + area.size()));
}

Bytes exit_record(uint64_t ts, const Proc& p, const Proc& parent, uint32_t status, bool ns_init,
                  uint32_t pids_left = 0) {
    iw_exit_event rec{};
    rec.hdr = {ts, IW_EVENT_EXIT, IW_EVENTS_VERSION, ns_init ? IW_EXIT_NS_INIT : 0u};
    rec.task = task_of(p, parent, 0, "sh");
    rec.exit_code = status;
    rec.ns_pids_allocated = pids_left;
    return frame(raw(rec));
}

// A fatal signal to `p` from `sender` (nullptr: the kernel), as signal_generate sends it.
Bytes signal_record(uint64_t ts, const Proc& p, const Proc& parent, const Proc* sender, uint32_t sig) {
    iw_signal_event rec{};
    rec.hdr = {ts, IW_EVENT_SIGNAL, IW_EVENTS_VERSION, sender ? 0u : IW_SIGNAL_FROM_KERNEL};
    rec.target = task_of(p, parent, 0, "sleep");
    if (sender) rec.sender = task_of(*sender, parent, 0, "kill");
    rec.sig = sig;
    rec.si_code = sender ? 0 : 0x80;
    return frame(raw(rec));
}

Bytes oom_record(uint64_t ts, const Proc& victim, bool pid_only) {
    iw_oom_event rec{};
    rec.hdr = {ts, IW_EVENT_OOM, IW_EVENTS_VERSION, pid_only ? IW_OOM_PID_ONLY : 0u};
    rec.victim = {victim.pid, 0, pid_only ? 0 : victim.start_ns};
    return frame(raw(rec));
}

constexpr uint32_t kNs = 4026532200u;
constexpr uint64_t kCgroup = 2001;
constexpr uint64_t kMs = 1'000'000;

const Proc shim{100, 1 * kMs, 4026531836u, 100, 0, 1};
const Proc init{200, 2 * kMs, kNs, 1, 1, kCgroup};

Bytes container_start() {
    return fork_record(2 * kMs, init, shim, "containerd-shim") +
           exec_record(3 * kMs, init, shim, 0, {"/bin/sh", "/startup.sh"});
}

// The story: `nohup node server.js &`, two helpers, init exits 0.
Bytes crash_loop() {
    const Proc server{201, 4 * kMs, kNs, 2, 1, kCgroup}, helper{202, 5 * kMs, kNs, 3, 1, kCgroup};
    return container_start() + fork_record(4 * kMs, server, init, "sh") +
           exec_record(4 * kMs, server, init, IW_TASK_SIGHUP_IGNORED, {"node", "/my-app/server.js"}) +
           fork_record(5 * kMs, helper, init, "sh") +
           exec_record(5 * kMs, helper, init, 0, {"sleep", "0.3"}) +
           exit_record(300 * kMs, helper, init, 0, false) + exit_record(600 * kMs, init, shim, 0, true, 2);
}

// A daemon (double fork, setsid) reparented to init; init crashes with a core dump.
Bytes daemon_and_crash() {
    const Proc launcher{201, 4 * kMs, kNs, 2, 1, kCgroup}, daemon{202, 5 * kMs, kNs, 3, 1, kCgroup},
        worker{203, 6 * kMs, kNs, 4, 1, kCgroup};
    return container_start() + fork_record(4 * kMs, launcher, init, "sh") +
           exec_record(4 * kMs, launcher, init, 0, {"sh", "-c", "setsid daemon &"}) +
           fork_record(5 * kMs, daemon, launcher, "sh") +
           exec_record(5 * kMs, daemon, launcher, IW_TASK_SESSION_LEADER, {"daemon", "--name=\x1b[31mred"}) +
           fork_record(6 * kMs, worker, daemon, "daemon") + exit_record(7 * kMs, launcher, init, 0, false) +
           exit_record(900 * kMs, init, shim, 0x80 | 11, true, 3);
}

// A namespace nested in the container's (Docker-in-Docker), an exec from outside (runc exec),
// a fork that never exec'd, lost events, housekeeping.
Bytes nested_and_entered() {
    const Proc inner{201, 4 * kMs, kNs + 1, 1, 2, kCgroup}, inner_child{202, 5 * kMs, kNs + 1, 2, 2, kCgroup},
        entered{300, 6 * kMs, kNs, 9, 1, kCgroup}, unexeced{203, 7 * kMs, kNs, 3, 1, kCgroup};
    return container_start() + fork_record(4 * kMs, inner, init, "unshare") +
           exec_record(4 * kMs, inner, init, 0, {"sh"}) + fork_record(5 * kMs, inner_child, inner, "sh") +
           fork_record(6 * kMs, entered, shim, "runc") + exec_record(6 * kMs, entered, shim, 0, {"bash"}) +
           fork_record(7 * kMs, unexeced, init, "sh") + frame(Bytes(1, '\x05')) +
           exit_record(800 * kMs, init, shim, 15, true, 5) + frame({}) +
           exit_record(900 * kMs, inner_child, inner, 0, false);
}

// A container without its own pid namespace: its main process is the first exec in its cgroup.
Bytes cgroup_scope() {
    const Proc main_proc{400, 10 * kMs, 4026531836u, 400, 0, 3001},
        child{401, 11 * kMs, 4026531836u, 401, 0, 3001};
    return fork_record(10 * kMs, main_proc, shim, "runc") +
           exec_record(10 * kMs, main_proc, shim, 0, {"/entrypoint.sh", "--password=hunter2"}) +
           fork_record(11 * kMs, child, main_proc, "entrypoint.sh") +
           exec_record(11 * kMs, child, main_proc, IW_TASK_SIGHUP_IGNORED, {"nginx", "-g", "daemon off;"}) +
           exit_record(500 * kMs, main_proc, shim, 1 << 8, false);
}

// A process known from the startup snapshot, then one with a truncated argv.
Bytes snapshot_and_truncated() {
    const Proc old_init{500, 1 * kMs, kNs + 2, 1, 1, 4001}, child{501, 2 * kMs, kNs + 2, 2, 1, 4001};
    Bytes exec = exec_record(3 * kMs, child, old_init, 0, {"python3", "-c", std::string(300, 'x')});
    exec[2 + offsetof(iw_exec_event, hdr.flags)] = IW_EXEC_ARGV_TRUNCATED;
    return fork_record(1 * kMs, old_init, shim, "tini", IW_EVENT_SNAPSHOT) +
           fork_record(2 * kMs, child, old_init, "tini") + exec +
           exit_record(9 * kMs, old_init, shim, 0, true, 2);
}

// A worker killed by a process of the node, another by the OOM killer.
Bytes killed_workers() {
    const Proc a{601, 3 * kMs, kNs, 2, 1, kCgroup}, b{602, 4 * kMs, kNs, 3, 1, kCgroup};
    return container_start() + fork_record(3 * kMs, a, init, "sh") + fork_record(4 * kMs, b, init, "sh") +
           signal_record(5 * kMs, a, init, &shim, 9) + exit_record(6 * kMs, a, init, 9, false) +
           signal_record(7 * kMs, b, init, nullptr, 9) + oom_record(7 * kMs, b, true) +
           exit_record(8 * kMs, b, init, 9, false);
}

std::vector<Bytes> decode_seeds() {
    iw_header wrong_version{1, IW_EVENT_FORK, IW_EVENTS_VERSION + 1, 0};
    Bytes short_exec = exec_record(1, init, shim, 0, {"a"});
    short_exec.resize(short_exec.size() - 3);
    short_exec[0] = static_cast<char>(short_exec.size() - 2);
    short_exec[1] = static_cast<char>((short_exec.size() - 2) >> 8);
    return {crash_loop(),    daemon_and_crash(),       nested_and_entered(),
            cgroup_scope(),  snapshot_and_truncated(), frame(raw(wrong_version)) + short_exec,
            killed_workers()};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    make_dir(out_dir);

    write_seeds("fuzz_decode", decode_seeds());

    write_seeds("fuzz_escape",
                {"node /my-app/server.js", "caf\xc3\xa9 \xe2\x80\xae\x74xt.exe", "\x1b]0;title\x07\x1b[2J",
                 "tab\there\r\nback\\slash", "\xff\xfe\xc0\xaf\xed\xa0\x80",
                 "\xc2\x9b"
                 "31m \xe2\x81\xa6 \xe2\x80\xa8 \x7f",
                 "\xf0\x9f\x90\xb3 \xf4\x90\x80\x80"});
    write_dict("fuzz_escape", {"\\x1b", "\\x7f", "\\xc2\\x9b", "\\xe2\\x80\\xae", "\\xe2\\x81\\xa6",
                               "\\xe2\\x80\\xa8", "\\xf0\\x9f\\x90\\xb3", "\\\\"});

    const std::string id = "e58a24d4a722c99712cff74ef69d93311089584eb32617b3890e0dcb996133f1";
    write_seeds(
        "fuzz_cgroup_path",
        {"/kubepods.slice/kubepods-besteffort.slice/"
         "kubepods-besteffort-pod7fda01c4_0ece_403d_88b4_c371d66d132a"
         ".slice/cri-containerd-" +
             id + ".scope",
         "/kubepods/burstable/podc458de04-9784-4f7a-990e-cefe26b511f0/" + id,
         "/system.slice/containerd.service/kubepods-burstable-podff49d0be_16b7_4a49_bb9e_8ec1f1f4e27f.slice:"
         "cri-containerd:" +
             id,
         "/system.slice/docker-" + id + ".scope/init.scope", "/docker/" + id,
         "/machine.slice/libpod-" + id + ".scope/container", "/k8s.io/" + id,
         "/user.slice/runc-my_box+1.scope",
         "/kubepods.slice/kubepods-pod5b6f9a39c5f1b62a1a8a0b16b1a9e8c5.slice/crio-" + id + ".scope"});
    write_dict("fuzz_cgroup_path", {"/",
                                    "kubepods",
                                    "kubepods.slice",
                                    "-pod",
                                    "pod",
                                    ".slice",
                                    ".scope",
                                    "burstable",
                                    "besteffort",
                                    "cri-containerd-",
                                    ":cri-containerd:",
                                    "crio-",
                                    "crio-conmon-",
                                    "docker-",
                                    "docker",
                                    "libpod-",
                                    "libpod-conmon-",
                                    "runc-",
                                    "default",
                                    "k8s.io",
                                    "moby",
                                    "container",
                                    "init.scope",
                                    "init",
                                    id,
                                    "7fda01c4_0ece_403d_88b4_c371d66d132a",
                                    "c458de04-9784-4f7a-990e-cefe26b511f0"});

    write_seeds("fuzz_redactor", {argv_area({"app", "--password=hunter2", "--token", "ghp_abcdefgh1234"}),
                                  argv_area({"env", "key=a,key=bb,other=c", "secret:xyz"}),
                                  argv_area({"curl", "--password=" + std::string(2000, 'p')}),
                                  argv_area({"app", "--password", "hunter2", "-p", "", "--token", "t@k"})});
    return 0;
}
