#include "runtimes.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"
#include "meta/mountinfo.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace initwatch::ktest {

namespace {

constexpr const char* kLeftovers = "/tmp/initwatch-ktest-leftovers";
constexpr const char* kTempPrefix = "/tmp/initwatch-ktest-";
constexpr const char* kContainerdRun = "/run/containerd";

using Clock = std::chrono::steady_clock;

Clock::time_point deadline_in(double seconds) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

bool exists(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0;
}

void write_file(const std::string& path, const std::string& text, mode_t mode = 0644) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    REQUIRE(out.good());
    REQUIRE(chmod(path.c_str(), mode) == 0);
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(line);
    return out;
}

std::vector<std::string> read_cmdline(pid_t pid) {
    const std::string raw = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    std::vector<std::string> argv;
    size_t start = 0;
    while (start < raw.size()) {
        const size_t end = raw.find('\0', start);
        argv.push_back(raw.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return argv;
}

// Field 3 (state) and 22 (start time) of /proc/PID/stat; false when there is no such process.
bool proc_stat(pid_t pid, char& state, uint64_t& start, pid_t* ppid = nullptr) {
    if (pid <= 0) return false;
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return false;
    std::istringstream in(stat.substr(paren + 2));
    std::vector<std::string> f;
    std::string w;
    while (in >> w) f.push_back(w);
    if (f.size() < 20) return false;
    state = f[0][0];  // field 3
    if (ppid) *ppid = static_cast<pid_t>(std::stoll(f[1]));
    start = std::stoull(f[19]);  // field 22
    return true;
}

uint64_t start_time(pid_t pid) {
    char state = 0;
    uint64_t start = 0;
    return proc_stat(pid, state, start) ? start : 0;
}

// Alive: exists, not a zombie, and (when start != 0) the same process as recorded.
bool alive(pid_t pid, uint64_t start = 0) {
    char state = 0;
    uint64_t st = 0;
    if (!proc_stat(pid, state, st)) return false;
    return state != 'Z' && (start == 0 || st == start);
}

std::vector<pid_t> all_pids() {
    std::vector<pid_t> out;
    if (DIR* d = opendir("/proc")) {
        while (dirent* e = readdir(d)) {
            char* end = nullptr;
            const long pid = std::strtol(e->d_name, &end, 10);
            if (end && *end == '\0' && pid > 0) out.push_back(static_cast<pid_t>(pid));
        }
        closedir(d);
    }
    return out;
}

// The fixtures make this process a child subreaper, as containerd's shim is for its
// containers: a container's init is reparented to it once `runc run -d` returns, and shims
// once containerd's `shim start` exits. Reaping them at once matters: this machine's PID 1
// reaps orphans about once a second, and `runc delete -f` polls a killed init with
// kill(pid, 0) until it is reaped. Zombie children are reaped here, except initwatch
// processes, which the harness waits for itself.
// In a forked child before exec: stdin from /dev/null, stdout and stderr appended to
// `path`, no other descriptor inherited. Exits 126 when it cannot.
void child_stdio_to(const std::string& path) {
    const int in = open("/dev/null", O_RDONLY);
    const int o = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || o < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(o, 2);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
}

void become_subreaper() {
    static const bool done = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
    (void)done;
}

void reap_zombie_children() {
    const pid_t self = getpid();
    for (pid_t pid : all_pids()) {
        char state = 0;
        uint64_t start = 0;
        pid_t ppid = 0;
        if (!proc_stat(pid, state, start, &ppid) || ppid != self || state != 'Z') continue;
        if (read_file("/proc/" + std::to_string(pid) + "/comm").rfind("initwatch", 0) == 0) continue;
        waitpid(pid, nullptr, WNOHANG);
    }
}

// Waits (reaping) until pid is gone, or a zombie that is not ours to reap.
void wait_gone(pid_t pid, uint64_t start, double timeout_s) {
    const auto until = deadline_in(timeout_s);
    while (Clock::now() < until) {
        reap_zombie_children();
        char state = 0;
        uint64_t st = 0;
        pid_t ppid = 0;
        if (!proc_stat(pid, state, st, &ppid) || (start && st != start)) return;
        if (state == 'Z' && ppid != getpid()) return;
        sleep_ms(2);
    }
}

bool is_static_elf(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    unsigned char h[64] = {};
    if (!in.read(reinterpret_cast<char*>(h), sizeof h)) return false;
    if (std::memcmp(h, "\x7f" "ELF", 4) != 0 || h[4] != 2 /* ELFCLASS64 */) return false;
    uint64_t phoff = 0;
    uint16_t phentsize = 0, phnum = 0;
    std::memcpy(&phoff, h + 32, 8);
    std::memcpy(&phentsize, h + 54, 2);
    std::memcpy(&phnum, h + 56, 2);
    for (uint16_t i = 0; i < phnum; ++i) {
        uint32_t type = 0;
        in.seekg(static_cast<std::streamoff>(phoff + uint64_t{i} * phentsize));
        if (!in.read(reinterpret_cast<char*>(&type), 4)) return false;
        if (type == 3 /* PT_INTERP */) return false;
    }
    return true;
}

struct MountEntry {
    std::string root, point, fstype;
};

std::vector<MountEntry> mountinfo() {
    std::vector<MountEntry> out;
    for (const auto& m : meta::find_mounts("/proc/self/mountinfo")) out.push_back({m.root, m.target, m.fstype});
    return out;
}

std::string parent_of(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

std::vector<std::string> subdirs(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            const std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            if (e->d_type == DT_DIR) out.push_back(dir + "/" + name);
        }
        closedir(d);
    }
    return out;
}

// Every process of a cgroup directory and its descendants.
void cgroup_procs(const std::string& dir, std::vector<pid_t>& out) {
    for (const auto& line : split_lines(read_file(dir + "/cgroup.procs"))) out.push_back(std::stoi(line));
    for (const auto& sub : subdirs(dir)) cgroup_procs(sub, out);
}

bool valid_cgroup_path(const std::string& path) {
    return path.size() > 1 && path[0] == '/' && path.find("..") == std::string::npos;
}

// SIGKILLs every process in `path` (and below) in every hierarchy, until none is left.
void kill_cgroup_processes(const std::string& path) {
    if (!valid_cgroup_path(path)) return;
    const auto until = deadline_in(5);
    while (Clock::now() < until) {
        std::vector<pid_t> pids;
        for (const auto& mount : cgroup_mounts())
            if (exists(mount + path)) cgroup_procs(mount + path, pids);
        bool any = false;
        for (pid_t pid : pids) {
            if (pid <= 1 || pid == getpid()) continue;
            any = true;
            ::kill(pid, SIGKILL);
        }
        reap_zombie_children();
        if (!any) return;
        sleep_ms(5);
    }
}

// rmdir with retries: a cgroup whose last process just died can be busy for a moment.
bool rmdir_retry(const std::string& dir, double timeout_s = 2) {
    const auto until = deadline_in(timeout_s);
    for (;;) {
        if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
        if (errno != EBUSY || Clock::now() >= until) return false;
        sleep_ms(5);
    }
}

bool rmdir_tree(const std::string& dir) {
    for (const auto& sub : subdirs(dir))
        if (!rmdir_tree(sub)) return false;
    return rmdir_retry(dir);
}

// Unmounts whatever is mounted under dir (deepest first), then removes the tree. Never
// follows symlinks (rootfs applets, kubelet log links).
void remove_temp_dir(const std::string& dir) {
    if (dir.rfind(kTempPrefix, 0) != 0 || dir.find("..") != std::string::npos) return;  // never anything else
    std::vector<std::string> points;
    for (const auto& m : mountinfo())
        if (m.point == dir || m.point.rfind(dir + "/", 0) == 0) points.push_back(m.point);
    std::sort(points.rbegin(), points.rend());
    for (const auto& p : points) umount2(p.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir, ec);
}

std::vector<std::string> string_list(const json& j, const char* key) {
    std::vector<std::string> out;
    if (j.contains(key))
        for (const auto& v : j.at(key)) out.push_back(v.get<std::string>());
    return out;
}

// Processes whose argv[0] names a containerd shim and whose argv holds `socket`.
std::vector<pid_t> shims_of(const std::string& socket) {
    std::vector<pid_t> out;
    for (pid_t pid : all_pids()) {
        const auto argv = read_cmdline(pid);
        if (argv.empty() || argv[0].find("containerd-shim") == std::string::npos) continue;
        for (const auto& a : argv)
            if (a == socket || a == "unix://" + socket) {
                if (alive(pid)) out.push_back(pid);
                break;
            }
    }
    return out;
}

// A unix socket nobody listens on any more.
bool stale_socket(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        close(fd);
        return false;
    }
    std::strcpy(addr.sun_path, path.c_str());
    const bool refused = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno == ECONNREFUSED;
    close(fd);
    return refused;
}

// Stops a process: SIGTERM, then SIGKILL after grace_s; reaps it when it is our child.
void stop_process(pid_t pid, uint64_t start, double grace_s) {
    if (!alive(pid, start)) {
        waitpid(pid, nullptr, WNOHANG);
        return;
    }
    ::kill(pid, SIGTERM);
    const auto until = deadline_in(grace_s);
    bool sent_kill = false;
    for (;;) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) return;
        if (!alive(pid, start)) return;
        if (Clock::now() >= until && !sent_kill) {
            ::kill(pid, SIGKILL);
            sent_kill = true;
        }
        if (Clock::now() >= until + std::chrono::seconds(5)) return;
        sleep_ms(5);
    }
}

// Undoes a record: containerd's tasks and containers, the daemon, its shims, runc
// containers, cgroups (with their processes) in every hierarchy, temp dirs. Returns what is
// still there afterwards.
std::vector<std::string> undo(const json& rec) {
    std::vector<std::string> left;

    if (rec.contains("containerd")) {
        const json& c = rec.at("containerd");
        const pid_t pid = c.value("pid", -1);
        const uint64_t start = c.value("start", uint64_t{0});
        const std::string socket = c.value("socket", "");
        const std::string ctr = c.value("ctr", "ctr");
        if (pid > 0 && alive(pid, start) && !socket.empty()) {
            for (const auto& ns : string_list(c, "namespaces")) {
                const auto tasks = split_lines(run_cmd({ctr, "-a", socket, "-n", ns, "task", "ls", "-q"}, 10).output);
                for (const auto& id : tasks) run_cmd({ctr, "-a", socket, "-n", ns, "task", "kill", "-s", "SIGKILL", id}, 10);
                for (const auto& id : tasks) run_cmd({ctr, "-a", socket, "-n", ns, "task", "rm", "-f", id}, 10);
                const auto containers =
                    split_lines(run_cmd({ctr, "-a", socket, "-n", ns, "container", "ls", "-q"}, 10).output);
                for (const auto& id : containers) run_cmd({ctr, "-a", socket, "-n", ns, "container", "rm", id}, 10);
            }
        }
        if (pid > 0) stop_process(pid, start, 5);
        if (!socket.empty()) {
            for (pid_t shim : shims_of(socket)) ::kill(shim, SIGKILL);
            const auto until = deadline_in(3);
            while (!shims_of(socket).empty() && Clock::now() < until) sleep_ms(5);
            reap_zombie_children();
        }
    }

    const auto cgroups = string_list(rec, "cgroups");
    if (rec.contains("runc")) {
        const json& r = rec.at("runc");
        const std::string runc = r.value("bin", "runc"), root = r.value("root", "");
        if (!root.empty() && exists(root))
            for (const auto& id : string_list(r, "ids")) run_cmd({runc, "--root", root, "kill", id, "KILL"}, 10);
        for (const auto& cg : cgroups) kill_cgroup_processes(cg);
        if (r.contains("inits"))
            for (const auto& init : r.at("inits")) wait_gone(init.value("pid", 0), init.value("start", uint64_t{0}), 3);
        if (!root.empty() && exists(root))
            for (const auto& id : string_list(r, "ids")) run_cmd({runc, "--root", root, "delete", "-f", id}, 10);
    }
    for (const auto& cg : cgroups)
        for (const auto& d : remove_cgroup(cg)) left.push_back("cgroup " + d);

    if (rec.contains("containerd")) {
        const json& c = rec.at("containerd");
        const std::string sdir = std::string(kContainerdRun) + "/s";
        if (DIR* d = opendir(sdir.c_str())) {
            std::vector<std::string> stale;
            while (dirent* e = readdir(d))
                if (e->d_name[0] != '.' && stale_socket(sdir + "/" + e->d_name)) stale.push_back(sdir + "/" + e->d_name);
            closedir(d);
            for (const auto& s : stale) unlink(s.c_str());
        }
        if (!c.value("run_dir_existed", true)) {
            rmdir(sdir.c_str());
            rmdir(kContainerdRun);
        }
        if (alive(c.value("pid", -1), c.value("start", uint64_t{0})))
            left.push_back("containerd daemon pid " + std::to_string(c.value("pid", -1)));
        for (pid_t shim : shims_of(c.value("socket", "")))
            left.push_back("containerd shim pid " + std::to_string(shim));
    }

    for (const auto& dir : string_list(rec, "dirs")) {
        remove_temp_dir(dir);
        if (exists(dir)) left.push_back("dir " + dir);
    }
    return left;
}

}  // namespace

// The record of what one fixture created, kept in a file while it exists.
class Cleanup {
public:
    explicit Cleanup(const std::string& what) {
        mkdir(kLeftovers, 0700);
        file_ = std::string(kLeftovers) + "/" + std::to_string(getpid()) + "-" + random_hex(12) + ".json";
        rec_ = {{"what", what}, {"owner_pid", getpid()}, {"owner_start", start_time(getpid())}};
        save();
    }

    json& rec() { return rec_; }

    void add(const char* key, const std::string& value) {
        auto& list = rec_[key];
        if (!list.is_array()) list = json::array();
        for (const auto& v : list)
            if (v == value) return;
        list.push_back(value);
        save();
    }

    void save() {
        mkdir(kLeftovers, 0700);
        const std::string tmp = file_ + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << rec_.dump(1) << '\n';
        }
        rename(tmp.c_str(), file_.c_str());
    }

    // Undoes everything; the record goes once nothing is left. A failed cleanup fails the
    // test (or, while a failure already unwinds, is printed) and stays for the next sweep.
    void finish() {
        const auto left = undo(rec_);
        if (left.empty()) {
            unlink(file_.c_str());
            rmdir(kLeftovers);  // only when empty
            return;
        }
        std::string msg = "cleanup of " + rec_.value("what", "?") + " left:";
        for (const auto& l : left) msg += "\n  " + l;
        if (std::uncaught_exceptions() == 0) {
            FAIL_CHECK(msg);
        } else {
            std::fprintf(stderr, "%s\n", msg.c_str());
        }
    }

private:
    std::string file_;
    json rec_;
};

namespace {

// The owner pid in a harness temp name "/tmp/initwatch-ktest-<pid>-..." (or a bare
// "initwatch-ktest-<pid>-..."), 0 for other names.
pid_t temp_owner(const std::string& path) {
    const std::string prefix = fs::path(kTempPrefix).filename().string();  // "initwatch-ktest-"
    const std::string name = fs::path(path).filename().string();
    if (name.rfind(prefix, 0) != 0) return 0;
    const std::string rest = name.substr(prefix.size());
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || rest.find_first_not_of("0123456789") != dash) return 0;
    return static_cast<pid_t>(std::stol(rest.substr(0, dash)));
}

// What test processes that were killed (a crash, a ctest timeout) could not remove: the
// harness's temp files (/tmp/initwatch-ktest-<pid>-...) and the `initwatch watch` they had
// started, which writes to such a file and would run on until its --duration.
void sweep_dead_tests() {
    auto dead = [](pid_t owner) { return owner > 0 && owner != getpid() && !alive(owner); };
    for (pid_t pid : all_pids()) {
        const auto argv = read_cmdline(pid);
        if (argv.empty() || fs::path(argv[0]).filename() != "initwatch") continue;
        for (const auto& a : argv)
            if (a.rfind(kTempPrefix, 0) == 0 && dead(temp_owner(a))) {
                ::kill(pid, SIGKILL);
                break;
            }
    }
    std::vector<std::string> files;
    if (DIR* d = opendir("/tmp")) {
        while (dirent* e = readdir(d))
            if (e->d_type == DT_REG && dead(temp_owner(e->d_name))) files.push_back(std::string("/tmp/") + e->d_name);
        closedir(d);
    }
    for (const auto& f : files) unlink(f.c_str());
}

}  // namespace

void sweep_leftovers() {
    sweep_dead_tests();
    DIR* d = opendir(kLeftovers);
    if (!d) return;
    std::vector<std::string> files;
    while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) files.push_back(std::string(kLeftovers) + "/" + name);
    }
    closedir(d);
    for (const auto& file : files) {
        json rec;
        try {
            rec = json::parse(read_file(file));
        } catch (const std::exception&) {
            unlink(file.c_str());
            continue;
        }
        if (alive(rec.value("owner_pid", -1), rec.value("owner_start", uint64_t{0}))) continue;  // still running
        const auto left = undo(rec);
        if (left.empty()) {
            unlink(file.c_str());
        } else {
            std::fprintf(stderr, "sweep: %s still has leftovers:\n", rec.value("what", "?").c_str());
            for (const auto& l : left) std::fprintf(stderr, "  %s\n", l.c_str());
        }
    }
    rmdir(kLeftovers);
}

// ---------------------------------------------------------------------------------------
// Programs and commands

std::string find_program(const std::string& name) {
    if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin";
    std::istringstream in(path);
    std::string dir;
    while (std::getline(in, dir, ':')) {
        if (dir.empty()) continue;
        const std::string candidate = dir + "/" + name;
        struct stat st {};
        if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return "";
}

void require_programs(const std::vector<std::string>& names) {
    require_root();
    std::string missing;
    for (const auto& name : names) {
        const std::string path = find_program(name);
        if (path.empty()) {
            missing += " " + name;
        } else if (name == "busybox" && !is_static_elf(path)) {
            missing += " busybox(static: " + path + " is dynamically linked, install busybox-static)";
        }
    }
    if (missing.empty()) return;
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL("container runtime test: missing" << missing << " (tools/setup installs them)");
    std::fprintf(stderr, "skipped: missing%s (tools/setup installs them)\n", missing.c_str());
    std::exit(77);
}

CmdResult run_cmd(std::vector<std::string> argv, double timeout_s, const std::string& output_path) {
    CmdResult r;
    REQUIRE(!argv.empty());
    const std::string exe = find_program(argv[0]);
    if (exe.empty()) {
        r.status = 127;
        r.output = argv[0] + ": not found";
        return r;
    }
    std::string out = output_path;
    const bool temp = out.empty();
    if (temp) {
        std::string tmpl = std::string(kTempPrefix) + std::to_string(getpid()) + "-cmd-XXXXXX";
        const int fd = mkstemp(tmpl.data());
        REQUIRE(fd >= 0);
        close(fd);
        out = tmpl;
    }
    const auto began = Clock::now();
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        child_stdio_to(out);
        std::vector<char*> cargv;
        for (auto& a : argv) cargv.push_back(a.data());
        cargv.push_back(nullptr);
        execv(exe.c_str(), cargv.data());
        _exit(127);
    }
    const auto until = deadline_in(timeout_s);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (Clock::now() >= until) {
            ::kill(pid, SIGKILL);
            // Bounded too: a process stuck in the kernel must not hang the test.
            for (int i = 0; i < 2000 && waitpid(pid, &status, WNOHANG) == 0; ++i) sleep_ms(5);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    r.output = read_file(out);
    if (temp) unlink(out.c_str());
    if (std::getenv("INITWATCH_KTEST_TRACE")) {
        std::string line;
        for (const auto& a : argv) line += " " + (a.size() > 24 ? a.substr(0, 24) + "..." : a);
        std::fprintf(stderr, "[%.3f s]%s -> %d\n", std::chrono::duration<double>(Clock::now() - began).count(),
                     line.c_str(), r.status);
    }
    return r;
}

// ---------------------------------------------------------------------------------------
// Ids and paths

std::string random_hex(size_t digits) {
    static std::mt19937_64 rng{std::random_device{}() ^ (uint64_t(getpid()) << 32)};
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < digits; ++i) out += hex[rng() & 15];
    return out;
}

std::string random_container_id() { return random_hex(64); }

std::string random_pod_uid() {
    return random_hex(8) + "-" + random_hex(4) + "-4" + random_hex(3) + "-a" + random_hex(3) + "-" + random_hex(12);
}

std::string kubepods_cgroupfs_path(const std::string& qos, const std::string& pod_uid, const std::string& container_id) {
    const std::string qos_dir = qos == "guaranteed" ? "" : "/" + qos;
    return "/kubepods" + qos_dir + "/pod" + pod_uid + "/" + container_id;
}

std::string kubepods_systemd_path(const std::string& qos, const std::string& pod_uid, const std::string& container_id) {
    std::string uid = pod_uid;
    for (auto& ch : uid)
        if (ch == '-') ch = '_';
    if (qos == "guaranteed")
        return "/kubepods.slice/kubepods-pod" + uid + ".slice/cri-containerd-" + container_id + ".scope";
    return "/kubepods.slice/kubepods-" + qos + ".slice/kubepods-" + qos + "-pod" + uid + ".slice/cri-containerd-" +
           container_id + ".scope";
}

// ---------------------------------------------------------------------------------------
// cgroups

std::vector<std::string> cgroup_mounts() {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& m : meta::find_mounts("/proc/self/mountinfo", "cgroup,cgroup2")) {
        if (m.root != "/") continue;  // a view of part of a hierarchy: paths would not match
        if (seen.insert(m.target).second) out.push_back(m.target);
    }
    return out;
}

std::string cgroup2_mount() {
    for (const auto& m : meta::find_mounts("/proc/self/mountinfo", "cgroup2"))
        if (m.root == "/") return m.target;
    return "";
}

uint64_t cgroup2_id(const std::string& path) {
    struct stat st {};
    const std::string root = cgroup2_mount();
    if (root.empty() || stat((root + path).c_str(), &st) != 0) return 0;
    return st.st_ino;
}

std::vector<std::string> cgroup_dirs_present(const std::string& path) {
    std::vector<std::string> out;
    for (const auto& mount : cgroup_mounts())
        if (exists(mount + path)) out.push_back(mount + path);
    return out;
}

std::vector<std::string> remove_cgroup(const std::string& path) {
    std::vector<std::string> left;
    if (!valid_cgroup_path(path)) return left;
    kill_cgroup_processes(path);
    for (const auto& mount : cgroup_mounts()) {
        const std::string dir = mount + path;
        if (exists(dir) && !rmdir_tree(dir)) left.push_back(dir);
        if (exists(dir)) continue;
        // Parents the runtime created and left: each one that has no other child goes.
        for (std::string p = parent_of(path); p != "/"; p = parent_of(p)) {
            const std::string pdir = mount + p;
            if (!exists(pdir)) continue;
            if (!subdirs(pdir).empty()) break;  // still used by another cgroup
            if (!rmdir_retry(pdir)) {
                left.push_back(pdir);
                break;
            }
        }
    }
    return left;
}

// ---------------------------------------------------------------------------------------
// Root filesystems and assets

void make_busybox_rootfs(const std::string& dir, const std::string& startup_script) {
    const std::string busybox = find_program("busybox");
    REQUIRE(!busybox.empty());
    for (const char* sub : {"", "/bin", "/proc", "/sys", "/dev", "/tmp", "/etc"}) {
        std::error_code ec;
        fs::create_directories(dir + sub, ec);
        REQUIRE(!ec);
    }
    std::error_code ec;
    fs::copy_file(busybox, dir + "/bin/busybox", fs::copy_options::overwrite_existing, ec);
    REQUIRE(!ec);
    REQUIRE(chmod((dir + "/bin/busybox").c_str(), 0755) == 0);
    for (const char* applet : {"sh", "sleep", "cat", "echo", "ls", "ps", "true", "false", "kill", "env"})
        REQUIRE(symlink("busybox", (dir + "/bin/" + applet).c_str()) == 0);
    if (!startup_script.empty()) write_file(dir + "/startup.sh", startup_script, 0755);
}

std::string container_asset(const std::string& name) {
    const std::string path = std::string(SCENARIO_DIR) + "/../containers/" + name;
    const std::string text = read_file(path);
    INFO("asset " << path);
    REQUIRE(!text.empty());
    return text;
}

// ---------------------------------------------------------------------------------------
// runc

RuncContainer::RuncContainer(RuncOptions options) : options_(std::move(options)) {
    REQUIRE(!options_.id.empty());
    REQUIRE(valid_cgroup_path(options_.cgroups_path));
    sweep_leftovers();
    become_subreaper();
    char tmpl[] = "/tmp/initwatch-ktest-runc-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    bundle_ = dir_ + "/bundle";
    state_ = dir_ + "/state";
    log_ = dir_ + "/runc.log";
    cleanup_ = std::make_unique<Cleanup>("runc container " + options_.id);
    cleanup_->add("dirs", dir_);
    cleanup_->add("cgroups", options_.cgroups_path);
    cleanup_->rec()["runc"] = {{"bin", find_program("runc")}, {"root", state_}, {"ids", {options_.id}}};
    cleanup_->save();

    make_busybox_rootfs(bundle_ + "/rootfs", options_.script);
    const auto spec = runc({"spec", "--bundle", bundle_});
    INFO(spec.output);
    REQUIRE(spec.status == 0);
    json config = json::parse(read_file(bundle_ + "/config.json"));
    config["process"]["terminal"] = false;
    config["process"]["args"] = options_.args;
    config["linux"]["cgroupsPath"] = options_.cgroups_path;
    if (!options_.join_pidns.empty()) {
        bool found = false;
        for (auto& ns : config["linux"]["namespaces"])
            if (ns.value("type", "") == "pid") {
                ns["path"] = options_.join_pidns;
                found = true;
            }
        REQUIRE(found);
    }
    write_file(bundle_ + "/config.json", config.dump(2));
}

void RuncContainer::add_mount(const json& mount) {
    json config = json::parse(read_file(bundle_ + "/config.json"));
    config["mounts"].push_back(mount);
    write_file(bundle_ + "/config.json", config.dump(2));
}

RuncContainer::~RuncContainer() {
    if (cleanup_) cleanup_->finish();
}

CmdResult RuncContainer::runc(std::vector<std::string> args, double timeout_s) const {
    args.insert(args.begin(), {"runc", "--root", state_});
    return run_cmd(std::move(args), timeout_s);
}

void RuncContainer::start() {
    const auto r = run_cmd({"runc", "--root", state_, "run", "-d", "--bundle", bundle_, options_.id}, 30, log_);
    INFO("runc run -d " << options_.id << ": " << log());
    REQUIRE(r.status == 0);
    cgroup_id_ = cgroup2_id(options_.cgroups_path);
    if (const int pid = init_pid(); pid > 0) {
        cleanup_->rec()["runc"]["inits"].push_back({{"pid", pid}, {"start", start_time(pid)}});
        cleanup_->save();
    }
    if (cgroup_id_ == 0) WARN("the cgroup of " << options_.id << " was gone right after start: its id is unknown");
}

int RuncContainer::kill(const std::string& signal) { return runc({"kill", options_.id, signal}).status; }

std::string RuncContainer::status() const {
    const auto r = runc({"state", options_.id});
    if (r.status != 0) return "";
    try {
        return json::parse(r.output).value("status", "");
    } catch (const std::exception&) {
        return "";
    }
}

int RuncContainer::init_pid() const {
    const auto r = runc({"state", options_.id});
    if (r.status != 0) return 0;
    try {
        return json::parse(r.output).value("pid", 0);
    } catch (const std::exception&) {
        return 0;
    }
}

bool RuncContainer::wait_for_status(const std::string& status, double timeout_s) const {
    const auto until = deadline_in(timeout_s);
    do {
        if (this->status() == status) return true;
        sleep_ms(10);
    } while (Clock::now() < until);
    return false;
}

bool RuncContainer::wait_for_init_argv(const std::vector<std::string>& argv, double timeout_s) const {
    const int pid = init_pid();
    if (pid <= 0) return false;
    const auto until = deadline_in(timeout_s);
    do {
        if (read_cmdline(pid) == argv) return true;
        sleep_ms(5);
    } while (Clock::now() < until);
    return false;
}

bool RuncContainer::wait_for_process_count(size_t n, double timeout_s) const {
    const std::string procs = cgroup2_mount() + options_.cgroups_path + "/cgroup.procs";
    const auto until = deadline_in(timeout_s);
    do {
        if (split_lines(read_file(procs)).size() == n) return true;
        sleep_ms(5);
    } while (Clock::now() < until);
    return false;
}

std::string RuncContainer::log() const { return read_file(log_); }

// ---------------------------------------------------------------------------------------
// containerd

Containerd::Containerd() {
    sweep_leftovers();
    become_subreaper();
    const bool run_dir_existed = exists(kContainerdRun);
    char tmpl[] = "/tmp/initwatch-ktest-containerd-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/containerd.sock";
    cleanup_ = std::make_unique<Cleanup>("containerd daemon " + socket_);
    cleanup_->add("dirs", dir_);
    cleanup_->rec()["containerd"] = {{"socket", socket_},
                                     {"ctr", find_program("ctr")},
                                     {"namespaces", json::array()},
                                     {"run_dir_existed", run_dir_existed}};
    cleanup_->save();

    // Everything of the daemon under dir_ (the opt plugin would create /opt/containerd).
    write_file(dir_ + "/config.toml",
               "version = 2\n"
               "root = \"" + dir_ + "/root\"\n"
               "state = \"" + dir_ + "/state\"\n"
               "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
               "[grpc]\n  address = \"" + socket_ + "\"\n"
               "[ttrpc]\n  address = \"" + socket_ + ".ttrpc\"\n"
               "[plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n    path = \"" + dir_ + "/opt\"\n");
    const std::string exe = find_program("containerd"), log = dir_ + "/containerd.log", config = dir_ + "/config.toml";
    REQUIRE(!exe.empty());
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
        child_stdio_to(log);
        execl(exe.c_str(), exe.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    cleanup_->rec()["containerd"]["pid"] = pid_;
    cleanup_->rec()["containerd"]["start"] = start_time(pid_);
    cleanup_->save();

    const auto until = deadline_in(20);
    for (;;) {
        if (ctr({"version"}, 5).status == 0) break;
        INFO("containerd log: " << read_file(log));
        REQUIRE(waitpid(pid_, nullptr, WNOHANG) == 0);  // it died
        REQUIRE(Clock::now() < until);
        sleep_ms(10);
    }
}

Containerd::~Containerd() {
    if (cleanup_) cleanup_->finish();
}

CmdResult Containerd::ctr(std::vector<std::string> args, double timeout_s) const {
    args.insert(args.begin(), {"ctr", "-a", socket_});
    return run_cmd(std::move(args), timeout_s);
}

int Containerd::run(const std::string& ns, const std::string& id, const std::string& script) {
    cleanup_->add("cgroups", "/" + ns + "/" + id);
    auto& namespaces = cleanup_->rec()["containerd"]["namespaces"];
    if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) namespaces.push_back(ns);
    cleanup_->save();

    const std::string rootfs = dir_ + "/rootfs-" + id, pid_file = dir_ + "/" + id + ".pid";
    make_busybox_rootfs(rootfs, script);
    fs::create_directories(dir_ + "/runc");
    fs::create_directories(dir_ + "/logs");
    const auto r = ctr({"-n", ns, "run", "-d", "--runc-root", dir_ + "/runc", "--log-uri",
                        "file://" + dir_ + "/logs/" + id + ".log", "--pid-file", pid_file, "--rootfs", rootfs, id,
                        "/startup.sh"});
    INFO("ctr run " << id << ": " << r.output << "\ncontainerd log: " << read_file(dir_ + "/containerd.log"));
    REQUIRE(r.status == 0);
    const std::string pid = read_file(pid_file);
    REQUIRE(!pid.empty());
    return std::stoi(pid);
}

std::string Containerd::task_status(const std::string& ns, const std::string& id) const {
    for (const auto& line : split_lines(ctr({"-n", ns, "task", "ls"}).output)) {
        std::istringstream in(line);
        std::string tid, pid, status;
        in >> tid >> pid >> status;
        if (tid == id) return status;
    }
    return "";
}

bool Containerd::wait_for_task_status(const std::string& ns, const std::string& id, const std::string& status,
                                      double timeout_s) const {
    const auto until = deadline_in(timeout_s);
    do {
        if (task_status(ns, id) == status) return true;
        sleep_ms(10);
    } while (Clock::now() < until);
    return false;
}

// ---------------------------------------------------------------------------------------
// kubelet logs

KubeletLogs::KubeletLogs() {
    sweep_leftovers();
    char tmpl[] = "/tmp/initwatch-ktest-hostroot-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root_ = tmpl;
    cleanup_ = std::make_unique<Cleanup>("kubelet log layout " + root_);
    cleanup_->add("dirs", root_);
    fs::create_directories(root_ + "/var/log/pods");
    fs::create_directories(root_ + "/var/log/containers");
}

KubeletLogs::~KubeletLogs() {
    if (cleanup_) cleanup_->finish();
}

void KubeletLogs::add_container(const PodRef& pod, const std::string& container, const std::string& container_id,
                                int restart) {
    const std::string pod_dir = "/var/log/pods/" + pod.ns + "_" + pod.name + "_" + pod.uid;
    const std::string log = pod_dir + "/" + container + "/" + std::to_string(restart) + ".log";
    std::error_code ec;
    fs::create_directories(root_ + pod_dir + "/" + container, ec);
    REQUIRE(!ec);
    write_file(root_ + log, "2026-01-01T00:00:00.000000000Z stdout F starting\n");
    const std::string link =
        root_ + "/var/log/containers/" + pod.name + "_" + pod.ns + "_" + container + "-" + container_id + ".log";
    REQUIRE(symlink(log.c_str(), link.c_str()) == 0);
}

}  // namespace initwatch::ktest
