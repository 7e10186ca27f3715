#include "model/command_line.h"

namespace initwatch::model {

std::string shell_quote(std::string_view arg) {
    if (arg.empty()) return "''";
    if (arg.find_first_of(" '\"") == std::string_view::npos) return std::string(arg);
    std::string out = "'";
    for (char c : arg) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

std::string shell_join(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += shell_quote(a);
    }
    return out;
}

}  // namespace initwatch::model
