#include "meta/proc.h"

#include <fcntl.h>

namespace initwatch::meta {

util::FileRead read_cmdline(uint32_t pid, size_t max_bytes, const std::string& proc_root) {
    return util::read_bounded(AT_FDCWD, proc_root + "/" + std::to_string(pid) + "/cmdline",
                              util::ReadOptions{max_bytes});
}

}  // namespace initwatch::meta
