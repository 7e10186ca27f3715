#include "k8s/termination_message.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "k8s/note.h"
#include "meta/mountinfo.h"
#include "util/errno_text.h"

namespace initwatch::k8s {

namespace {

// A file descriptor closed when it goes out of scope.
class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

bool lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool lower_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'); }

// A Kubernetes UID: a UUID (8-4-4-4-12) for API pods, 32 hex digits for static pods.
bool valid_uid(std::string_view s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s)
        if (!lower_hex(c) && c != '-') return false;
    return true;
}

// A container name: a DNS label (RFC 1123), at most 63 characters.
bool valid_container_name(std::string_view s) {
    if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
    for (char c : s)
        if (!lower_alnum(c) && c != '-') return false;
    return true;
}

// kubelet's fmt.Sprintf("%08x", rand.Uint32()).
bool valid_file_name(std::string_view s) {
    if (s.size() != 8) return false;
    for (char c : s)
        if (!lower_hex(c)) return false;
    return true;
}

// The last component of s (after its last '/'); s loses it and that '/'.
std::string_view pop_component(std::string_view& s) {
    const size_t slash = s.rfind('/');
    if (slash == std::string_view::npos) {
        std::string_view last = s;
        s = {};
        return last;
    }
    std::string_view last = s.substr(slash + 1);
    s = s.substr(0, slash);
    return last;
}

// Reads at most max_bytes of the file `name` under dirfd; false if it cannot be read.
// `truncated` tells that there was more.
bool read_bounded(int dirfd, const char* name, size_t max_bytes, std::string& out, bool& truncated) {
    Fd fd(openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) return false;
    out.assign(max_bytes + 1, '\0');
    size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = read(fd.get(), &out[got], out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    truncated = got > max_bytes;
    out.resize(truncated ? max_bytes : got);
    return true;
}

// The process is still a namespace init at that level (its host pid was not reused by
// another process since the exec): the last NSpid of /proc/PID/status is 1, one per level.
bool still_ns_init(int proc_dirfd, uint32_t ns_level) {
    std::string status;
    bool truncated = false;
    if (!read_bounded(proc_dirfd, "status", 8192, status, truncated)) return false;
    const size_t at = status.find("\nNSpid:");
    if (at == std::string::npos) return false;
    const size_t end = status.find('\n', at + 1);
    std::string_view line(status.data() + at + 7, (end == std::string::npos ? status.size() : end) - at - 7);
    size_t fields = 0;
    std::string_view last;
    while (!line.empty()) {
        const size_t start = line.find_first_not_of(" \t");
        if (start == std::string_view::npos) break;
        line.remove_prefix(start);
        const size_t stop = line.find_first_of(" \t");
        last = line.substr(0, stop);
        line.remove_prefix(stop == std::string_view::npos ? line.size() : stop);
        ++fields;
    }
    return fields == ns_level + 1 && last == "1";
}

// openat2(2) (Linux 5.6+) through syscall(): glibc 2.36 has no wrapper. -1 with errno
// ENOSYS on older kernels.
int open_beneath(int dirfd, const std::string& path, int flags) {
#ifdef SYS_openat2
    open_how how{};
    how.flags = static_cast<uint64_t>(flags);
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    return static_cast<int>(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
#else
    errno = ENOSYS;
    return -1;
#endif
}

// Component by component where openat2 is missing: every directory with O_NOFOLLOW |
// O_DIRECTORY, the file with O_NOFOLLOW. The components are checked names (no '/', no "..").
int open_components(int dirfd, const std::vector<std::string>& dirs, const std::string& file, int flags) {
    int at = dirfd;
    std::unique_ptr<Fd> held;
    for (const auto& d : dirs) {
        const int next = openat(at, d.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            struct stat st {};
            if (errno == ENOTDIR && fstatat(at, d.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                errno = ELOOP;
            return -1;
        }
        held = std::make_unique<Fd>(next);
        at = next;
    }
    return openat(at, file.c_str(), flags | O_NOFOLLOW);
}

}  // namespace

std::optional<TerminationFile> parse_termination_root(std::string_view root) {
    TerminationFile f;
    f.file = std::string(pop_component(root));
    f.container = std::string(pop_component(root));
    const std::string_view containers = pop_component(root);
    f.pod_uid = std::string(pop_component(root));
    const std::string_view pods = pop_component(root);
    if (pods != "pods" || containers != "containers" || !valid_uid(f.pod_uid) ||
        !valid_container_name(f.container) || !valid_file_name(f.file))
        return std::nullopt;
    return f;
}

std::optional<TerminationFile> find_termination_mount(const std::string& mountinfo, dev_t pods_dev,
                                                      bool& mismatched) {
    mismatched = false;
    for (const meta::Mount& m : meta::parse_mountinfo(mountinfo)) {
        auto file = parse_termination_root(m.root);
        if (!file) continue;
        file->dev = m.devno;
        if (file->dev != pods_dev) {
            mismatched = true;
            continue;
        }
        return file;
    }
    return std::nullopt;
}

const char* to_string(TermResult r) {
    switch (r) {
        case TermResult::written:
            return "written";
        case TermResult::shortened:
            return "shortened";
        case TermResult::no_room:
            return "no_room";
        case TermResult::no_mount:
            return "no_mount";
        case TermResult::mountinfo_unreadable:
            return "mountinfo_unreadable";
        case TermResult::device_mismatch:
            return "device_mismatch";
        case TermResult::wrong_pod:
            return "wrong_pod";
        case TermResult::symlink:
            return "symlink";
        case TermResult::not_regular_file:
            return "not_regular_file";
        case TermResult::open_failed:
            return "open_failed";
        case TermResult::write_failed:
            return "write_failed";
    }
    return "unknown";
}

TerminationMessageSink::TerminationMessageSink(TerminationMessageOptions options)
    : options_(std::move(options)) {
    std::string root = options_.host_root;
    while (!root.empty() && root.back() == '/') root.pop_back();
    std::string kubelet = options_.kubelet_root;
    if (kubelet.empty() || kubelet.front() != '/') kubelet.insert(0, "/");  // always below the host root
    while (kubelet.size() > 1 && kubelet.back() == '/') kubelet.pop_back();
    pods_dir_ = root + (kubelet == "/" ? "" : kubelet) + "/pods";
}

void TerminationMessageSink::event(const model::Event& e, const model::ProcessSummary*) {
    if (const auto* exit = std::get_if<model::ExitEvent>(&e)) {
        if (exit->ns_init || exit->task.ns_pid == 1)
            if (auto it = entries_.find(exit->task.cgroup_id); it != entries_.end() && !it->second.exited_ns)
                it->second.exited_ns = exit->ts_ns ? exit->ts_ns : 1;
        return;
    }
    const auto* exec = std::get_if<model::ExecEvent>(&e);
    if (!exec) return;
    const model::TaskInfo& t = exec->task;
    if (t.ns_level == 0 || t.ns_pid != 1 || t.cgroup_id <= 1) return;
    // The first exec of the instance: before the container's own code ran, the mount table
    // is the runtime's. Later execs of init (`exec` in a script) keep what was found.
    if (entries_.count(t.cgroup_id)) return;
    Entry entry = read_mounts(t.key.tgid, t.ns_level);
    entry.seen_ns = exec->ts_ns;
    remember(t.cgroup_id, std::move(entry));
}

TerminationMessageSink::Entry TerminationMessageSink::read_mounts(uint32_t pid, uint32_t ns_level) const {
    Entry entry;
    const std::string dir = options_.proc_root + "/" + std::to_string(pid);
    Fd proc(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    std::string mountinfo;
    bool truncated = false;
    if (proc.get() < 0 || !still_ns_init(proc.get(), ns_level) ||
        !read_bounded(proc.get(), "mountinfo", kMaxMountinfoBytes, mountinfo, truncated)) {
        entry.failure = TermResult::mountinfo_unreadable;
        return entry;
    }
    // A table past the bound: its whole lines only (kubelet's mount is among the runtime's,
    // which come first).
    if (truncated)
        mountinfo.resize(mountinfo.rfind('\n') == std::string::npos ? 0 : mountinfo.rfind('\n') + 1);
    struct stat pods {};
    if (stat(pods_dir_.c_str(), &pods) != 0) {
        entry.failure = TermResult::device_mismatch;  // no kubelet pods/ to compare with
        return entry;
    }
    bool mismatched = false;
    entry.file = find_termination_mount(mountinfo, pods.st_dev, mismatched);
    if (!entry.file) entry.failure = mismatched ? TermResult::device_mismatch : TermResult::no_mount;
    return entry;
}

void TerminationMessageSink::remember(uint64_t cgroup_id, Entry entry) {
    // Exited instances whose finding never came (init left nothing behind) age out.
    if (entries_.size() >= options_.max_entries || ++remembered_ % 64 == 0) {
        for (auto it = entries_.begin(); it != entries_.end();)
            if (it->second.exited_ns && entry.seen_ns > it->second.exited_ns + options_.max_exited_age_ns)
                it = entries_.erase(it);
            else
                ++it;
    }
    // Still full: the oldest goes.
    if (entries_.size() >= options_.max_entries) {
        auto oldest = entries_.begin();
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            if (it->second.seen_ns < oldest->second.seen_ns) oldest = it;
        if (oldest != entries_.end()) entries_.erase(oldest);
    }
    if (options_.max_entries) entries_.emplace(cgroup_id, std::move(entry));
}

void TerminationMessageSink::finding(const model::Finding& f, const meta::FindingContext& context) {
    // The message is read when the container terminates: a worker's end while init runs on
    // terminates nothing (the Event and the log say it); the entry waits for init's exit.
    if (f.kind != model::Kind::init_exit) return;
    const auto& c = context.container;
    const bool about_pod = c.pod && c.pod->uid && c.name;
    const auto it = entries_.find(f.cgroup_id);
    if (it == entries_.end()) {
        if (about_pod) count(TermResult::no_mount);
        return;
    }
    const Entry entry = std::move(it->second);
    entries_.erase(it);  // one finding per instance: its init has exited
    if (!entry.file) {
        if (about_pod) count(entry.failure);
        return;
    }
    if (!about_pod || *c.pod->uid != entry.file->pod_uid || *c.name != entry.file->container) {
        count(TermResult::wrong_pod);
        return;
    }
    count(append(*entry.file, f));
}

TermResult TerminationMessageSink::append(const TerminationFile& file, const model::Finding& f) {
    Fd pods(open(pods_dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (pods.get() < 0) return TermResult::open_failed;
    // O_APPEND: every write goes after the application's text, nothing is overwritten.
    // O_RDWR to read its last byte; O_NONBLOCK so that a FIFO planted there cannot block
    // the loop (it is refused as not a regular file).
    const int flags = O_RDWR | O_APPEND | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
    int raw = -1;
    errno = ENOSYS;
    if (options_.use_openat2)
        raw =
            open_beneath(pods.get(), file.pod_uid + "/containers/" + file.container + "/" + file.file, flags);
    if (raw < 0 && errno == ENOSYS)
        raw = open_components(pods.get(), {file.pod_uid, "containers", file.container}, file.file, flags);
    Fd fd(raw);
    if (fd.get() < 0) {
        const int err = errno;
        if (err == ELOOP) return TermResult::symlink;
        if (err == EISDIR || err == ENXIO) return TermResult::not_regular_file;
        spdlog::debug("termination message: {}/{}/containers/{}/{}: {}", pods_dir_, file.pod_uid,
                      file.container, file.file, util::errno_text(err));
        return TermResult::open_failed;
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return TermResult::write_failed;
    if (!S_ISREG(st.st_mode)) return TermResult::not_regular_file;

    const size_t theirs = static_cast<size_t>(st.st_size);
    if (theirs >= kMaxTerminationMessageBytes) return TermResult::no_room;
    // A blank line between the application's text and ours.
    std::string text;
    if (theirs > 0) {
        char last = '\0';
        const bool ends_in_newline = pread(fd.get(), &last, 1, st.st_size - 1) == 1 && last == '\n';
        text = ends_in_newline ? "\n" : "\n\n";
    }
    // "initwatch: NOTE\n", the separator included, in at most kMaxOwnMessageBytes and in
    // what the application left of kubelet's 4,096.
    const std::string prefix = "initwatch: ";
    const size_t overhead = text.size() + prefix.size() + 1;
    const size_t room = std::min(kMaxOwnMessageBytes, kMaxTerminationMessageBytes - theirs);
    if (room < overhead + kMinOwnMessageBytes) return TermResult::no_room;
    const size_t budget = room - overhead, full_budget = kMaxOwnMessageBytes - overhead;
    const std::string note = finding_note(f, budget);
    const bool shortened = budget < full_budget && note != finding_note(f, full_budget);
    text += prefix + note + "\n";
    const ssize_t n = write(fd.get(), text.data(), text.size());
    if (n != static_cast<ssize_t>(text.size())) return TermResult::write_failed;
    return shortened ? TermResult::shortened : TermResult::written;
}

void TerminationMessageSink::count(TermResult r) {
    const auto i = static_cast<size_t>(r);
    ++counts_[i];
    if (options_.on_result) options_.on_result(r);
    if (r == TermResult::written || r == TermResult::shortened || logged_[i]) return;
    logged_[i] = true;
    spdlog::warn(
        "termination message not written: {} (counted in initwatch_termination_messages_total; "
        "logged once)",
        to_string(r));
}

std::vector<std::pair<std::string, uint64_t>> TerminationMessageSink::results() const {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (size_t i = 0; i < kTermResults; ++i)
        out.emplace_back(to_string(static_cast<TermResult>(i)), counts_[i]);
    return out;
}

}  // namespace initwatch::k8s
