// libFuzzer target: model::Redactor (--redact, --redact-next-after) with fixed patterns on
// arbitrary argv. The input is one kernel argv area (NUL-separated, at most IW_ARGV_LEN
// bytes, as BPF and /proc/PID/cmdline deliver it), redacted as a vector and as an Argv
// block, and its first bytes as a comm.
#include <initwatch/events.h>
#include <re2/re2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checks.h"
#include "model/argv.h"
#include "model/redactor.h"

using initwatch::fuzz::require;
using initwatch::model::Redactor;

namespace {

// Nested, overlapping, repeated and optional groups, and none.
const std::vector<std::string> kMask{R"(--password=(\S+))", R"(ghp_[A-Za-z0-9]{8,})",
                                     R"(key=((\w)\w*))",    R"((?:token|secret)[=:](.*))",
                                     R"((\w)+@(\w+)?)",     R"(a(b(c)?)d)"};
const std::vector<std::string> kNextAfter{R"(--password|-p)", R"(--token)"};

// The same patterns, compiled here to ask only whether one matches at all.
std::vector<std::unique_ptr<re2::RE2>> compiled(const std::vector<std::string>& patterns) {
    re2::RE2::Options opt;
    opt.set_encoding(re2::RE2::Options::EncodingLatin1);
    opt.set_dot_nl(true);
    std::vector<std::unique_ptr<re2::RE2>> out;
    for (const auto& p : patterns) out.push_back(std::make_unique<re2::RE2>(p, opt));
    return out;
}

bool any_matches(const std::vector<std::unique_ptr<re2::RE2>>& res, const std::string& text, bool full) {
    for (const auto& re : res)
        if (full ? re2::RE2::FullMatch(text, *re) : re2::RE2::PartialMatch(text, *re)) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > IW_ARGV_LEN) return 0;
    static const Redactor redactor(kMask, kNextAfter);
    static const auto mask = compiled(kMask);
    static const auto next_after = compiled(kNextAfter);
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const initwatch::model::Argv block = initwatch::model::Argv::from_bytes(bytes);
    const std::vector<std::string> argv = block.vector();
    std::vector<std::string> redacted = argv;
    redactor.apply(redacted);

    require(redacted.size() == argv.size(), "redaction changed the number of arguments");
    for (size_t i = 0; i < argv.size(); ++i) {
        if (i > 0 && any_matches(next_after, argv[i - 1], true)) {
            require(redacted[i] == (argv[i].empty() ? "" : Redactor::kMask),
                    "the argument after a flag is not masked whole", redacted[i]);
        } else if (!any_matches(mask, argv[i], false)) {
            require(redacted[i] == argv[i], "an argument no pattern matches was changed", argv[i]);
        } else if (redacted[i] != argv[i]) {
            require(redacted[i].find(Redactor::kMask) != std::string::npos, "changed without a mask",
                    redacted[i]);
        }
    }

    initwatch::model::Argv redacted_block = block;
    redactor.apply(redacted_block);
    require(redacted_block == redacted, "an Argv block is redacted unlike its arguments");
    if (redacted != argv)
        require(!redacted_block.shares_with(block), "a redacted block is still the original");

    const std::string comm(bytes.substr(0, 15));
    const std::string masked_comm = redactor.redact(comm);
    if (!any_matches(mask, comm, false))
        require(masked_comm == comm, "a comm no pattern matches was changed", comm);
    else if (masked_comm != comm)
        require(masked_comm.find(Redactor::kMask) != std::string::npos, "comm changed without a mask",
                masked_comm);
    return 0;
}
