#include "cli/closing.h"

#include <cstdio>

namespace initwatch::cli {

int close_with(int status, const std::string& why) {
    std::fprintf(stderr, "initwatch: %s; exit status %d\n", why.c_str(), status);
    std::fflush(stderr);
    return status;
}

std::string cannot_tell(const pipeline::LostCounts& lost) {
    uint64_t total = 0;
    std::string by_reason;
    for (const auto& [reason, count] : lost) {
        total += count;
        by_reason += (by_reason.empty() ? "" : ", ") + reason + " " + std::to_string(count);
    }
    return "cannot tell: " + std::to_string(total) + (total == 1 ? " record" : " records") + " lost (" +
           by_reason + ")";
}

}  // namespace initwatch::cli
