#include "k8s/termination_message.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "k8s/note.h"
#include "meta/mountinfo.h"
#include "util/errno_text.h"
#include "util/file.h"
#include "util/ids.h"

namespace initwatch::k8s {

namespace {

// kubelet's fmt.Sprintf("%08x", rand.Uint32()).
bool valid_file_name(std::string_view s) { return s.size() == 8 && util::is_lower_hex(s); }

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

// The process is still a namespace init at that level (its host pid was not reused by
// another process since the exec): the last NSpid of /proc/PID/status is 1, one per level.
bool still_ns_init(int proc_dirfd, uint32_t ns_level) {
    const util::FileRead r = util::read_bounded(proc_dirfd, "status", util::ReadOptions{8192});
    if (!r.ok()) return false;
    const std::string& status = r.data;
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

}  // namespace

std::optional<TerminationFile> parse_termination_root(std::string_view root) {
    TerminationFile f;
    f.file = std::string(pop_component(root));
    f.container = std::string(pop_component(root));
    const std::string_view containers = pop_component(root);
    f.pod_uid = std::string(pop_component(root));
    const std::string_view pods = pop_component(root);
    if (pods != "pods" || containers != "containers" || !util::is_pod_uid(f.pod_uid) ||
        !util::is_dns_label(f.container) || !valid_file_name(f.file))
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
        case TermResult::already_written:
            return "already_written";
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
        // The instance's own init, not one of a namespace nested in it.
        if (exit->ns_init || exit->task.ns_pid == 1)
            if (auto it = entries_.find(exit->task.cgroup_id);
                it != entries_.end() && !it->second.exited_ns && it->second.init == exit->task.key)
                it->second.exited_ns = exit->ts_ns ? exit->ts_ns : 1;
        return;
    }
    const auto* exec = std::get_if<model::ExecEvent>(&e);
    if (!exec) return;
    const model::TaskInfo& t = exec->task;
    if (t.ns_level == 0 || t.ns_pid != 1 || t.cgroup_id <= 1) return;
    // The first exec of the instance: before the container's own code ran, the mount table
    // is the runtime's. Later execs of init (`exec` in a script) and the inits of namespaces
    // nested in it keep what was found: one read per instance.
    if (entries_.count(t.cgroup_id)) return;
    Entry entry = read_mounts(t.key.tgid, t.ns_level);
    entry.init = t.key;
    entry.seen_ns = exec->ts_ns;
    remember(t.cgroup_id, std::move(entry));
}

TerminationMessageSink::Entry TerminationMessageSink::read_mounts(uint32_t pid, uint32_t ns_level) const {
    Entry entry;
    const util::Fd proc = util::open_file(AT_FDCWD, options_.proc_root + "/" + std::to_string(pid),
                                          O_PATH | O_DIRECTORY, util::Resolve::last_component);
    util::FileRead table;
    if (proc) table = util::read_bounded(proc.get(), "mountinfo", util::ReadOptions{kMaxMountinfoBytes});
    if (!proc || !still_ns_init(proc.get(), ns_level) || !table.ok()) {
        entry.failure = TermResult::mountinfo_unreadable;
        return entry;
    }
    std::string& mountinfo = table.data;
    // A table past the bound: its whole lines only (kubelet's mount is among the runtime's,
    // which come first).
    if (table.truncated)
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
    switch (f.kind) {
        case model::Kind::init_exit:
            break;
        case model::Kind::worker_exit:
        case model::Kind::stop_ignored:  // a stop's: the Event says it, init's own finding gets the file
            return;
    }
    const auto& c = context.container;
    const bool about_pod = c.pod && c.pod->uid && c.name;
    const auto it = entries_.find(f.cgroup_id);
    if (it == entries_.end()) {
        if (about_pod) count(TermResult::no_mount);
        return;
    }
    // One note per instance: the file is kubelet's for the instance, and a nested namespace's
    // end is a finding of its own (the Event and the log tell of each).
    Entry& entry = it->second;
    if (entry.noted) {
        if (about_pod) count(TermResult::already_written);
        return;
    }
    entry.noted = true;
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
    const util::Fd pods =
        util::open_file(AT_FDCWD, pods_dir_, O_PATH | O_DIRECTORY, util::Resolve::last_component);
    if (!pods) return TermResult::open_failed;
    // O_APPEND: every write goes after the application's text, nothing is overwritten.
    // O_RDWR to read its last byte; O_NONBLOCK so that a FIFO planted there cannot block
    // the loop (it is refused as not a regular file).
    const util::Fd fd =
        util::open_file(pods.get(), file.pod_uid + "/containers/" + file.container + "/" + file.file,
                        O_RDWR | O_APPEND | O_NONBLOCK, util::Resolve::beneath, options_.use_openat2);
    if (!fd) {
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
    if (r == TermResult::written || r == TermResult::shortened || r == TermResult::already_written ||
        logged_[i])
        return;
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
