#include "meta/proc.h"

#include <fcntl.h>
#include <unistd.h>


namespace initwatch::meta {

model::Argv read_cmdline(pid_t pid, size_t max_bytes, bool& truncated,
                                      const std::string& proc_root) {
    truncated = false;
    const std::string path = proc_root + "/" + std::to_string(pid) + "/cmdline";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string data(max_bytes + 1, '\0');
    size_t len = 0;
    ssize_t n;
    while (len < data.size() && (n = ::read(fd, &data[len], data.size() - len)) > 0) len += static_cast<size_t>(n);
    ::close(fd);
    if (len > max_bytes) {
        truncated = true;
        len = max_bytes;
    }
    return model::Argv::from_bytes(std::string_view(data.data(), len));
}

}  // namespace initwatch::meta
