// libFuzzer target: model::Redactor (--redact) with fixed patterns on arbitrary argv. The
// input is one kernel argv area (NUL-separated, at most IW_ARGV_LEN bytes, as BPF and
// /proc/PID/cmdline deliver it); std::regex runs on every argument of every exec.
#include <initwatch/events.h>

#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "checks.h"
#include "model/argv.h"
#include "model/redactor.h"

using initwatch::fuzz::require;
using initwatch::model::Redactor;

namespace {

const std::vector<std::string>& patterns() {
    static const std::vector<std::string> p{R"(--password=(\S+))", R"(ghp_[A-Za-z0-9]{8,})", R"(key=(\w+))",
                                            R"((?:token|secret)[=:](.*))"};
    return p;
}

bool matches_any(const std::string& arg) {
    static const std::vector<std::regex> res = [] {
        std::vector<std::regex> v;
        for (const auto& p : patterns()) v.emplace_back(p, std::regex::ECMAScript);
        return v;
    }();
    for (const auto& re : res)
        if (std::regex_search(arg, re)) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > IW_ARGV_LEN) return 0;
    static const Redactor redactor(patterns());
    const std::vector<std::string> argv =
        initwatch::model::Argv::from_bytes(std::string_view(reinterpret_cast<const char*>(data), size)).vector();
    std::vector<std::string> redacted = argv;
    redactor.apply(redacted);

    require(redacted.size() == argv.size(), "redaction changed the number of arguments");
    for (size_t i = 0; i < argv.size(); ++i) {
        if (!matches_any(argv[i]))
            require(redacted[i] == argv[i], "an argument no pattern matches was changed", argv[i]);
        else if (redacted[i] != argv[i])
            require(redacted[i].find(Redactor::kMask) != std::string::npos, "changed without a mask",
                    redacted[i]);
    }
    return 0;
}
