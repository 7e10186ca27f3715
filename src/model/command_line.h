// A command line as one string, quoted as a shell would need it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace initwatch::model {

// Single-quotes an argument that holds spaces or quotes or is empty; else returns it as is.
std::string shell_quote(std::string_view arg);
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace initwatch::model
