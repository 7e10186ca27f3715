#include "model/command_line.h"

#include "util/shell_quote.h"

namespace initwatch::model {

std::string shell_join(const Argv& argv) {
    std::string out;
    for (std::string_view a : argv) {
        if (!out.empty()) out += ' ';
        out += util::shell_quote(a);
    }
    return out;
}

}  // namespace initwatch::model
