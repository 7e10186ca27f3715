// What the fuzz targets assert, written independently of the code under test.
#pragma once

#include <cstdint>
#include <string_view>

namespace initwatch::fuzz {

// Prints what went wrong (with the offending text, escaped) and aborts: libFuzzer keeps the input.
[[noreturn]] void fail(std::string_view what, std::string_view text = {});

inline void require(bool ok, std::string_view what, std::string_view text = {}) {
    if (!ok) fail(what, text);
}

// Decodes the UTF-8 sequence at s[i] (shortest form, no surrogates, at most U+10FFFF) and
// advances i; false, with i unchanged, when it is invalid.
bool next_code_point(std::string_view s, size_t& i, uint32_t& cp);

bool is_valid_utf8(std::string_view s);

// C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, line and paragraph
// separators: what must never reach a terminal raw.
bool is_terminal_unsafe(uint32_t cp);

// The README's promise for text output: valid UTF-8 and no unsafe code point; `\n` only
// where `newlines` says lines may end.
void require_terminal_safe(std::string_view text, bool newlines);

}  // namespace initwatch::fuzz
