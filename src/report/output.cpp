#include "report/output.h"

namespace initwatch::report {

Output::~Output() {
    flush();
    if (owns_file_) std::fclose(out_);
}

void Output::write_line(const std::string& line) {
    if (broken_) return;
    if (std::fwrite(line.data(), 1, line.size(), out_) != line.size() || std::fputc('\n', out_) == EOF)
        broken_ = true;
}

void Output::write_raw(std::string_view bytes) {
    if (broken_) return;
    if (std::fwrite(bytes.data(), 1, bytes.size(), out_) != bytes.size()) broken_ = true;
}

void Output::flush() {
    if (!broken_ && std::fflush(out_) != 0) broken_ = true;
}

}  // namespace initwatch::report
