#include "util/file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <deque>

namespace initwatch::util {

void Fd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

namespace {

constexpr int kMaxSymlinks = 40;  // the kernel's own bound (MAXSYMLINKS)

// openat2(2) (Linux 5.6+) through syscall(): glibc 2.36 has no wrapper. -1 with errno
// ENOSYS on older kernels.
int openat2_call(int dirfd, const std::string& path, int flags, uint64_t resolve) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags);
    how.resolve = resolve;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

std::deque<std::string> components(const std::string& path) {
    std::deque<std::string> out;
    size_t start = 0;
    while (start <= path.size()) {
        const size_t slash = path.find('/', start);
        const size_t end = slash == std::string::npos ? path.size() : slash;
        if (end > start) out.emplace_back(path, start, end - start);
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return out;
}

// ENOTDIR from O_DIRECTORY | O_NOFOLLOW on a symlink is reported as ELOOP, as openat2 does.
int open_directory(int at, const std::string& name) {
    const int fd = ::openat(at, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOTDIR) {
        struct stat st {};
        if (::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) errno = ELOOP;
    }
    return fd;
}

// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS by hand: every directory opened with O_NOFOLLOW, no
// "..", and every component on the device of `dirfd`.
int open_beneath_by_components(int dirfd, const std::string& path, int flags) {
    std::deque<std::string> parts = components(path);
    if (parts.empty() || path[0] == '/') {
        errno = EXDEV;
        return -1;
    }
    struct stat top {};
    if (::fstat(dirfd, &top) != 0) return -1;
    Fd held;
    int at = dirfd;
    while (parts.size() > 1) {
        const std::string part = std::move(parts.front());
        parts.pop_front();
        if (part == ".") continue;
        if (part == "..") {
            errno = EXDEV;
            return -1;
        }
        Fd next(open_directory(at, part));
        if (!next) return -1;
        struct stat st {};
        if (::fstat(next.get(), &st) != 0) return -1;
        if (st.st_dev != top.st_dev) {
            errno = EXDEV;
            return -1;
        }
        held = std::move(next);
        at = held.get();
    }
    if (parts.front() == "..") {
        errno = EXDEV;
        return -1;
    }
    return ::openat(at, parts.front().c_str(), flags | O_NOFOLLOW);
}

// RESOLVE_IN_ROOT by hand: components resolved one by one below `root`; ".." stops at the
// root; a symlink's target is read and resolved in turn, an absolute one from the root.
// Each open uses O_NOFOLLOW, so a component swapped for a symlink meanwhile fails, never
// escapes.
int open_in_root_by_components(int root, const std::string& path, int flags) {
    std::deque<std::string> parts = components(path);
    std::vector<Fd> stack;  // the directories below the root, outermost first
    auto at = [&] { return stack.empty() ? root : stack.back().get(); };
    int hops = 0;
    if (parts.empty()) {
        errno = ENOENT;
        return -1;
    }
    while (!parts.empty()) {
        const std::string part = std::move(parts.front());
        parts.pop_front();
        if (part == ".") continue;
        if (part == "..") {
            if (!stack.empty()) stack.pop_back();
            continue;
        }
        struct stat st {};
        if (::fstatat(at(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
        if (S_ISLNK(st.st_mode)) {
            if (++hops > kMaxSymlinks) {
                errno = ELOOP;
                return -1;
            }
            char target[PATH_MAX];
            const ssize_t n = ::readlinkat(at(), part.c_str(), target, sizeof target - 1);
            if (n < 0) return -1;
            const std::string link(target, static_cast<size_t>(n));
            if (!link.empty() && link[0] == '/') stack.clear();
            std::deque<std::string> more = components(link);
            parts.insert(parts.begin(), more.begin(), more.end());
            if (parts.empty()) {  // a link to "/" as the last component: the root itself
                errno = EISDIR;
                return -1;
            }
            continue;
        }
        if (parts.empty()) return ::openat(at(), part.c_str(), flags | O_NOFOLLOW);
        Fd next(open_directory(at(), part));
        if (!next) return -1;
        stack.push_back(std::move(next));
    }
    errno = EISDIR;  // the path ended in "/", "." or "..": a directory
    return -1;
}

}  // namespace

Fd open_file(int dirfd, const std::string& path, int flags, Resolve resolve, bool try_openat2) {
    flags |= O_CLOEXEC | O_NOCTTY;
    switch (resolve) {
        case Resolve::last_component:
            return Fd(::openat(dirfd, path.c_str(), flags | O_NOFOLLOW));
        case Resolve::beneath: {
            errno = ENOSYS;
            const int fd = try_openat2 ? openat2_call(dirfd, path, flags,
                                                      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                                          RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
                                       : -1;
            if (fd >= 0 || errno != ENOSYS) return Fd(fd);
            return Fd(open_beneath_by_components(dirfd, path, flags));
        }
        case Resolve::in_root: {
            errno = ENOSYS;
            const int fd =
                try_openat2 ? openat2_call(dirfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) : -1;
            if (fd >= 0 || errno != ENOSYS) return Fd(fd);
            return Fd(open_in_root_by_components(dirfd, path, flags));
        }
    }
    errno = EINVAL;
    return Fd();
}

const char* to_string(ReadError e) {
    switch (e) {
        case ReadError::none:
            return "none";
        case ReadError::not_found:
            return "not_found";
        case ReadError::symlink:
            return "symlink";
        case ReadError::not_regular:
            return "not_regular";
        case ReadError::too_large:
            return "too_large";
        case ReadError::failed:
            return "failed";
    }
    return "failed";
}

namespace {

FileRead failure(int err) {
    FileRead r;
    r.sys_errno = err;
    switch (err) {
        case ENOENT:
        case ESRCH:
        case ENOTDIR:
            r.error = ReadError::not_found;
            break;
        case ELOOP:
            r.error = ReadError::symlink;
            break;
        case EISDIR:
        case ENXIO:
            r.error = ReadError::not_regular;
            break;
        default:
            r.error = ReadError::failed;
            break;
    }
    return r;
}

}  // namespace

FileRead read_bounded(const Fd& fd, const ReadOptions& options) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return failure(errno);
    if (!S_ISREG(st.st_mode)) {
        FileRead r;
        r.error = ReadError::not_regular;
        return r;
    }
    FileRead r;
    // One byte more than the bound tells that the file goes on. /proc files say size 0.
    const size_t want = options.max_bytes + 1;
    r.data.resize(st.st_size > 0 && static_cast<size_t>(st.st_size) < want
                      ? static_cast<size_t>(st.st_size) + 1
                      : want);
    size_t got = 0;
    for (;;) {
        if (got == r.data.size()) {
            if (r.data.size() == want) break;
            r.data.resize(std::min(want, r.data.size() * 2 + 4096));  // it grew while being read
        }
        const ssize_t n = ::read(fd.get(), r.data.data() + got, r.data.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return failure(errno);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    r.truncated = got > options.max_bytes;
    if (r.truncated && options.whole) {
        FileRead big;
        big.error = ReadError::too_large;
        return big;
    }
    r.data.resize(r.truncated ? options.max_bytes : got);
    return r;
}

FileRead read_bounded(int dirfd, const std::string& path, const ReadOptions& options) {
    // O_NONBLOCK: a FIFO put in the file's place opens at once, and is refused as not regular.
    const Fd fd = open_file(dirfd, path, O_RDONLY | O_NONBLOCK, options.resolve, options.try_openat2);
    if (!fd) return failure(errno);
    return read_bounded(fd, options);
}

std::string proc_comm(int pid, const std::string& proc_root) {
    FileRead r = read_bounded(AT_FDCWD, proc_root + "/" + std::to_string(pid) + "/comm", ReadOptions{64});
    if (!r.ok()) return {};
    while (!r.data.empty() && r.data.back() == '\n') r.data.pop_back();
    return r.data;
}

}  // namespace initwatch::util
