// Reading files that someone else controls — the /proc files of container processes, a
// container's mount table, dockerd's state files, kubelet's termination-message files, a
// container's own entrypoint script — in one way: bounded in bytes, never blocking on a
// FIFO put in a file's place, a regular file only, symlinks resolved only as the caller
// allows. A read of a regular file can still hang in the kernel (a dead FUSE or NFS mount):
// callers that read where a container can mount do it off the event loop, with a deadline.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace initwatch::util {

// Owns one file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

// How a path is resolved below the directory it is opened at.
enum class Resolve {
    // The directories are trusted (/proc/PID/, a path the operator gave); the last component
    // must not be a symlink.
    last_component,
    // No symlink anywhere, no "..", no other mount: a checked relative path below a trusted
    // directory (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV; before 5.6,
    // component by component with O_NOFOLLOW).
    beneath,
    // As if the directory were `/`: a container's root (/proc/PID/root), where its image's
    // absolute symlinks and ".." resolve inside it, never on the node (openat2 RESOLVE_IN_ROOT
    // | RESOLVE_NO_MAGICLINKS; before 5.6, component by component, each symlink read and
    // followed inside the root, at most 40).
    in_root,
};

// Opens `path` at `dirfd` (AT_FDCWD for the current directory) resolved as `resolve`, with
// `flags` (O_CLOEXEC and O_NOCTTY added). An invalid Fd with errno set on failure: ELOOP
// for a symlink that is not allowed, EXDEV for a mount crossed or ".." under `beneath`.
// `try_openat2` false takes the path of kernels before 5.6 (tests run both).
Fd open_file(int dirfd, const std::string& path, int flags, Resolve resolve, bool try_openat2 = true);

enum class ReadError {
    none,
    not_found,    // ENOENT, ESRCH (a process gone), ENOTDIR
    symlink,      // a symlink where `resolve` allows none (ELOOP)
    not_regular,  // a directory, FIFO, socket or device
    too_large,    // past max_bytes, and `whole` was asked
    failed,       // any other error (permission, I/O): see `sys_errno`
};
const char* to_string(ReadError e);

struct ReadOptions {
    size_t max_bytes = 0;
    // A file longer than max_bytes is too_large (nothing is returned); otherwise its first
    // max_bytes are returned and `truncated` is set.
    bool whole = false;
    Resolve resolve = Resolve::last_component;
    bool try_openat2 = true;  // see open_file
};

struct FileRead {
    std::string data;
    bool truncated = false;  // the file goes on past max_bytes
    ReadError error = ReadError::none;
    int sys_errno = 0;  // of the failure, 0 when none
    bool ok() const { return error == ReadError::none; }
};

// At most options.max_bytes of the regular file `path` at `dirfd`, opened non-blocking (a
// FIFO cannot stall the open, and is refused), read to its end with EINTR retried.
FileRead read_bounded(int dirfd, const std::string& path, const ReadOptions& options);
// The same for a file already open.
FileRead read_bounded(const Fd& fd, const ReadOptions& options);

// /proc/PID/comm without its newline; "" when the process is gone or cannot be read.
std::string proc_comm(int pid, const std::string& proc_root = "/proc");

}  // namespace initwatch::util
