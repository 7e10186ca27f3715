#include "util/errno_text.h"

#include <cstring>

namespace initwatch::util {

std::string errno_text(int err) {
    char buf[128];
    // GNU strerror_r: returns the text, in buf or static.
    return strerror_r(err < 0 ? -err : err, buf, sizeof(buf));
}

}  // namespace initwatch::util
