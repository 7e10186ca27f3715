#include "checks.h"

#include <cstdio>
#include <cstdlib>

namespace initwatch::fuzz {

void fail(std::string_view what, std::string_view text) {
    std::fprintf(stderr, "fuzz check failed: %.*s\n", static_cast<int>(what.size()), what.data());
    if (!text.empty()) {
        std::fputs("  text: \"", stderr);
        for (unsigned char c : text.substr(0, 2048)) {
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                std::fputc(c, stderr);
            else
                std::fprintf(stderr, "\\x%02x", c);
        }
        std::fputs(text.size() > 2048 ? "\"...\n" : "\"\n", stderr);
    }
    std::abort();
}

bool next_code_point(std::string_view s, size_t& i, uint32_t& cp) {
    const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char lead = at(i);
    if (lead < 0x80) {
        cp = lead;
        ++i;
        return true;
    }
    size_t len;
    uint32_t min;
    if ((lead & 0xe0) == 0xc0) {
        len = 2, cp = lead & 0x1f, min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
        len = 3, cp = lead & 0x0f, min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
        len = 4, cp = lead & 0x07, min = 0x10000;
    } else {
        return false;
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
        if ((at(i + k) & 0xc0) != 0x80) return false;
        cp = cp << 6 | (at(i + k) & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
    return true;
}

bool is_valid_utf8(std::string_view s) {
    uint32_t cp;
    for (size_t i = 0; i < s.size();)
        if (!next_code_point(s, i, cp)) return false;
    return true;
}

bool is_terminal_unsafe(uint32_t cp) {
    // The README's list, written out again on purpose: the oracle must not share the code.
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

void require_terminal_safe(std::string_view text, bool newlines) {
    uint32_t cp;
    for (size_t i = 0; i < text.size();) {
        if (!next_code_point(text, i, cp)) fail("invalid UTF-8 would reach the terminal", text);
        if (cp == '\n' && newlines) continue;
        if (is_terminal_unsafe(cp)) fail("a control or bidi character would reach the terminal", text);
    }
}

}  // namespace initwatch::fuzz
