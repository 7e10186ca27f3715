// Mount tables (/proc/PID/mountinfo) through libmount, read as untrusted input: a container
// that can mount in the namespace read can make the table large and its paths hostile.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace initwatch::meta {

// One mount, its fields unescaped (a space in a path is "\040" in the file).
struct Mount {
    std::string root;    // the directory of the filesystem mounted there ("/" for all of it)
    std::string target;  // the mount point
    std::string fstype;
    std::string source;
    std::string options;  // the mount's and the superblock's, comma-separated
    dev_t devno = 0;      // major:minor of the filesystem
};

// What one read of a mount table costs at most. The kernel allows 100,000 mounts per
// namespace (fs.mount-max) of up to two 4 KiB paths each; a node has a few thousand.
struct MountinfoLimits {
    size_t max_bytes = 4 << 20;  // the rest of the file is not read
    size_t max_entries = 16384;  // lines after these are not parsed
};

// The mounts of a mountinfo file, in its order, whose type matches `fstypes` and whose
// options match `options`, in libmount's patterns ("" matches all): "cgroup,cgroup2",
// "memory"; "nofoo" means without foo, "+nofoo" the option nofoo itself. A file that cannot
// be read has no mounts; lines libmount cannot parse are skipped; only what fits in
// `limits` is read.
std::vector<Mount> find_mounts(const std::string& mountinfo_path, const std::string& fstypes = "",
                               const std::string& options = "", const MountinfoLimits& limits = {});

// The same for a table already read (bounded by the caller).
std::vector<Mount> parse_mountinfo(std::string text, const std::string& fstypes = "",
                                   const std::string& options = "");

// The cgroup2 mount to resolve cgroup ids with. With a host root (a DaemonSet mounting the
// host at /host), a cgroup2 mount under it is the host's and wins over the container's own,
// which a cgroup namespace may have narrowed. Otherwise one of the whole hierarchy (root
// "/") wins over a bind mount of a subtree; then the first.
std::optional<Mount> find_cgroup2(const std::string& mountinfo_path = "/proc/self/mountinfo",
                                  const std::string& host_root = "");

// find_cgroup2's mount point, "" when there is none.
std::string find_cgroup2_mount(const std::string& mountinfo_path = "/proc/self/mountinfo",
                               const std::string& host_root = "");

}  // namespace initwatch::meta
