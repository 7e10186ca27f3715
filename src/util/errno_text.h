// errno as a person reads it ("No such file or directory"), thread-safe; a negative value
// (libbpf's -errno convention) reads the same as its positive one.
#pragma once

#include <string>

namespace initwatch::util {

std::string errno_text(int err);

}  // namespace initwatch::util
