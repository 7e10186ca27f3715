// Container-controlled strings (comm, argv, cgroup names) are untrusted: these make them
// safe to print on a terminal, on one line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/argv.h"

namespace initwatch::report {

// Control characters (C0, DEL, C1), bidi controls, zero-width and every other default-ignorable
// code point (util::is_unsafe_codepoint) and invalid UTF-8 become visible escapes (\n, \x1b,
// \u202e, \U000e0041, \xff); a backslash becomes \\. Valid printable UTF-8 stays as is.
std::string escape_text(std::string_view s);

// argv on one line, each argument escaped and quoted as a shell would need it; `fallback` (e.g. comm) when
// argv is empty; "…" when truncated.
std::string format_command(const model::Argv& argv, std::string_view fallback, bool truncated);

}  // namespace initwatch::report
