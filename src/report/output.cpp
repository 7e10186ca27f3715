#include "report/output.h"

#include <cerrno>

#include "util/errno_text.h"

namespace initwatch::report {

Output::~Output() {
    flush();
    if (owns_file_) std::fclose(out_);
}

void Output::failed() {
    if (!broken_) errno_ = errno;
    broken_ = true;
}

void Output::write_line(const std::string& line) {
    if (broken_) return;
    if (std::fwrite(line.data(), 1, line.size(), out_) != line.size() || std::fputc('\n', out_) == EOF)
        failed();
}

void Output::write_raw(std::string_view bytes) {
    if (broken_) return;
    if (std::fwrite(bytes.data(), 1, bytes.size(), out_) != bytes.size()) failed();
}

void Output::flush() {
    if (!broken_ && std::fflush(out_) != 0) failed();
}

std::optional<std::string> Output::broken() const {
    if (!broken_) return std::nullopt;
    return "cannot write to " + name_ + ": " + util::errno_text(errno_);
}

}  // namespace initwatch::report
