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
    // The promise of docs/output.md, written out again on purpose (the oracle must not share the
    // code): C0 and C1 controls, the line and paragraph separators, the interlinear annotation
    // characters, and every Default_Ignorable_Code_Point of Unicode's DerivedCoreProperties.txt.
    const auto in = [cp](uint32_t first, uint32_t last) { return cp >= first && cp <= last; };
    return cp < 0x20 || in(0x7f, 0x9f) || in(0x2028, 0x2029) || in(0xfff9, 0xfffb) ||  // not ignorable
           cp == 0x00ad || cp == 0x034f || cp == 0x061c || in(0x115f, 0x1160) || in(0x17b4, 0x17b5) ||
           in(0x180b, 0x180f) || in(0x200b, 0x200f) || in(0x202a, 0x202e) || in(0x2060, 0x206f) ||
           cp == 0x3164 || in(0xfe00, 0xfe0f) || cp == 0xfeff || cp == 0xffa0 || in(0xfff0, 0xfff8) ||
           in(0x1bca0, 0x1bca3) || in(0x1d173, 0x1d17a) || in(0xe0000, 0xe0fff);
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
