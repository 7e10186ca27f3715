// A command line as one string, quoted as a shell would need it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace initwatch::model {

// Single-quotes an argument that holds spaces or quotes or is empty; else returns it as is.
std::string shell_quote(std::string_view arg);
std::string shell_join(const std::vector<std::string>& argv);

// NUL-separated arguments as the kernel lays them out (mm->arg_start..arg_end,
// /proc/PID/cmdline); the last one may lack its NUL.
std::vector<std::string> split_argv(const char* data, size_t len);

}  // namespace initwatch::model
