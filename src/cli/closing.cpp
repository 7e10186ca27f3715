#include "cli/closing.h"

#include <cstdio>

namespace initwatch::cli {

int close_with(int status, const std::string& why) {
    std::fprintf(stderr, "initwatch: %s; exit status %d\n", why.c_str(), status);
    std::fflush(stderr);
    return status;
}

}  // namespace initwatch::cli
