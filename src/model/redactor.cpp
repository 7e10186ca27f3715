#include "model/redactor.h"

#include <utility>

namespace initwatch::model {

Redactor::Redactor(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) patterns_.emplace_back(p, std::regex::ECMAScript);
}

std::string Redactor::redact(const std::string& arg) const {
    std::string out = arg;
    for (const auto& re : patterns_) {
        // Masked ranges are collected first, then replaced from the right, so offsets stay valid.
        std::vector<std::pair<size_t, size_t>> ranges;
        for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it) {
            const std::smatch& m = *it;
            if (m.size() > 1) {
                for (size_t g = 1; g < m.size(); ++g)
                    if (m[g].matched && m.length(g) > 0)
                        ranges.emplace_back(static_cast<size_t>(m.position(g)), static_cast<size_t>(m.length(g)));
            } else if (m.length(0) > 0) {
                ranges.emplace_back(static_cast<size_t>(m.position(0)), static_cast<size_t>(m.length(0)));
            }
        }
        for (auto r = ranges.rbegin(); r != ranges.rend(); ++r) out.replace(r->first, r->second, kMask);
    }
    return out;
}

void Redactor::apply(std::vector<std::string>& argv) const {
    for (auto& arg : argv) arg = redact(arg);
}

void Redactor::apply(Argv& argv) const {
    if (patterns_.empty() || argv.empty()) return;
    std::vector<std::string> copy = argv.vector();
    apply(copy);
    argv = Argv(std::move(copy));
}

void Redactor::apply(Event& event) const {
    if (auto* exec = std::get_if<ExecEvent>(&event)) {
        apply(exec->argv);
        exec->filename = redact(exec->filename);
    } else if (auto* snap = std::get_if<SnapshotEvent>(&event)) {
        apply(snap->argv);
    }
}

}  // namespace initwatch::model
