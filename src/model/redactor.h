// Masks secrets in command lines (--redact REGEX) before anything else sees them.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "model/event.h"

namespace initwatch::model {

class Redactor {
public:
    // ECMAScript regexes; throws std::regex_error for an invalid one.
    explicit Redactor(const std::vector<std::string>& patterns);

    bool empty() const { return patterns_.empty(); }
    // Each match in an argument is masked: its capture groups if it has any (so
    // `--password=(\S+)` keeps the flag name), else the whole match.
    void apply(std::vector<std::string>& argv) const;
    void apply(Argv& argv) const;  // replaces a shared argv by a redacted copy
    void apply(Event& event) const;

    static constexpr const char* kMask = "***";

private:
    std::string redact(const std::string& arg) const;

    std::vector<std::regex> patterns_;
};

}  // namespace initwatch::model
