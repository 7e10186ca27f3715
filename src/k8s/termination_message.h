// The finding as the container's termination message: what `kubectl describe pod` prints as
// `Message:` under Last State, and .status.containerStatuses[].lastState.terminated.message.
//
// kubelet bind-mounts, for each container instance, a file
// <kubelet-root>/pods/<pod uid>/containers/<name>/<8 hex> at the container's
// terminationMessagePath, and reads its last 4,096 bytes once the container has exited.
// When a container's init execs, this sink finds that file from the init's mount table;
// at the finding (init's exit, seen in the kernel before the runtime reports it) it
// appends the note there, after whatever the application wrote.
//
// Everything a container controls is untrusted: its mount table (it may hold 100,000
// mounts, or, with CAP_SYS_ADMIN, a bind mount whose root names another pod's file), so
//   - at most kMaxMountinfoBytes of it are read, on the pipeline's thread;
//   - a mount counts only when its device is that of <host-root><kubelet-root>/pods;
//   - the pod uid and container name it names must be those of the finding (which come
//     from the anchored cgroup identity);
//   - the host file is opened beneath <host-root><kubelet-root>/pods/<uid>/containers/<name>/
//     without following any symlink, must be a regular file, and is only appended to.
// Every failure is counted by result and logged once per result, never fatal. The mount
// table is read once per container instance (its cgroup), not per nested namespace, and the
// file gets one note per instance.
//
// The device check compares the mount's major:minor with stat(2)'s st_dev of pods/: they
// agree on ext4 (tested), xfs and tmpfs; on btrfs a subvolume's st_dev may differ from the
// superblock's number that mountinfo shows, and containers then count as device_mismatch.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pipeline/sink.h"

namespace initwatch::k8s {

// kubelet reads the last 4,096 bytes of the file (tail.ReadAtMost).
inline constexpr size_t kMaxTerminationMessageBytes = 4096;
// kubelet's status manager keeps 12,288 bytes of messages per pod, divided among its
// containers; the number is unknown here, so ours takes the share of a pod of 12
// containers.
inline constexpr size_t kMaxOwnMessageBytes = 1024;
// Below this much room nothing is written: a message cut that short says nothing.
inline constexpr size_t kMinOwnMessageBytes = 80;
// Bytes of a container's mount table read at its init's exec.
inline constexpr size_t kMaxMountinfoBytes = 512 * 1024;

// kubelet's file for one container instance, as named by a mount's root field.
struct TerminationFile {
    std::string pod_uid;
    std::string container;
    std::string file;  // 8 lowercase hex digits
    dev_t dev = 0;     // the mount's major:minor
};

// The file a mount root names: it must end in pods/<uid>/containers/<name>/<8 lowercase hex>,
// uid and name as Kubernetes spells them. nullopt otherwise.
std::optional<TerminationFile> parse_termination_root(std::string_view root);

// The first mount of a mountinfo text (libmount parses it; lines it cannot parse are
// skipped) whose root names a termination file and whose device is `pods_dev`.
// `mismatched` is set when a mount named such a file on another device.
std::optional<TerminationFile> find_termination_mount(const std::string& mountinfo, dev_t pods_dev,
                                                      bool& mismatched);

// The outcome of each finding about a pod (and of mount tables read), counted by name.
enum class TermResult {
    written,               // the whole note appended
    shortened,             // a shorter note appended: the file had less room
    no_room,               // the application's text left no room for ours
    no_mount,              // the init's mount table named no termination file
    mountinfo_unreadable,  // the init was gone, or its mount table could not be read
    device_mismatch,       // a termination file was named on another device than kubelet's pods/
    wrong_pod,             // the file named another pod uid or container name than the finding's
    symlink,               // a symlink in the path or in place of the file
    not_regular_file,      // the file is a directory, a FIFO, a device...
    open_failed,           // any other error opening it (gone, permission)
    write_failed,          // I/O error, or a short write
    already_written,       // a finding about the same instance came first: one note per instance
};
inline constexpr size_t kTermResults = 12;
const char* to_string(TermResult r);

struct TerminationMessageOptions {
    std::string host_root;  // where the host's / is mounted; "" for /
    std::string kubelet_root = "/var/lib/kubelet";
    std::string proc_root = "/proc";                 // host pids: hostPID, or the host itself
    size_t max_entries = 4096;                       // container instances remembered
    uint64_t max_exited_age_ns = 60'000'000'000ULL;  // kept this long after init's exit
    std::function<void(TermResult)> on_result;       // each result, as it happens (metrics)
    // false: open component by component (openat, O_NOFOLLOW), as on kernels without
    // openat2 (before 5.6), which fall back to it by themselves.
    bool use_openat2 = true;
};

class TerminationMessageSink : public pipeline::Sink {
public:
    explicit TerminationMessageSink(TerminationMessageOptions options);

    void finding(const model::Finding& f, const meta::FindingContext& context) override;
    bool wants_events() const override { return true; }
    void event(const model::Event& e, const model::ProcessSummary* known) override;

    // Cumulative counts, by result, in the order of TermResult.
    std::vector<std::pair<std::string, uint64_t>> results() const;
    size_t entries() const { return entries_.size(); }
    bool remembers(uint64_t cgroup_id) const { return entries_.count(cgroup_id) != 0; }

private:
    // One container instance (its cgroup), from its init's first exec until it ages out
    // after that init's exit: the mount table is read once for it, and its file gets one
    // note, however many pid namespaces nested in it end (each a finding of its own).
    struct Entry {
        std::optional<TerminationFile> file;
        TermResult failure = TermResult::no_mount;  // when there is no file
        model::ProcKey init;                        // the init whose exec made it
        uint64_t seen_ns = 0;
        uint64_t exited_ns = 0;  // 0 while init lives
        bool noted = false;      // a finding about it came: the next ones write nothing
    };

    void remember(uint64_t cgroup_id, Entry entry);
    Entry read_mounts(uint32_t pid, uint32_t ns_level) const;
    TermResult append(const TerminationFile& file, const model::Finding& f);
    void count(TermResult r);

    TerminationMessageOptions options_;
    std::string pods_dir_;                         // <host-root><kubelet-root>/pods
    std::unordered_map<uint64_t, Entry> entries_;  // by cgroup id
    uint64_t remembered_ = 0;                      // entries ever added: every 64th sweeps the exited ones
    std::array<uint64_t, kTermResults> counts_{};
    std::array<bool, kTermResults> logged_{};
};

}  // namespace initwatch::k8s
