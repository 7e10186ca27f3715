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

std::vector<std::string> split_argv(const char* data, size_t len) {
    std::vector<std::string> argv;
    size_t start = 0;
    for (size_t i = 0; i < len; ++i) {
        if (data[i] == '\0') {
            argv.emplace_back(data + start, i - start);
            start = i + 1;
        }
    }
    if (start < len) argv.emplace_back(data + start, len - start);
    return argv;
}

}  // namespace initwatch::model
