// libFuzzer target: report::escape_text on arbitrary bytes (comm, argv and cgroup names are
// container-controlled). Its output must be safe on a terminal, lossless, and leave
// already-safe text alone.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "checks.h"
#include "report/escape.h"

using initwatch::fuzz::require;

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Reads `digits` lowercase hex digits at s[i], or -1.
long read_hex(std::string_view s, size_t i, size_t digits) {
    if (s.size() - i < digits) return -1;
    long v = 0;
    for (size_t k = 0; k < digits; ++k) {
        const int d = hex_value(s[i + k]);
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// The inverse of escape_text as its header documents it: \\ \n \r \t \xHH \uHHHH.
std::string unescape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        if (s[i] != '\\') {
            out += s[i++];
            continue;
        }
        require(i + 1 < s.size(), "escape_text left a lone backslash at the end", s);
        const char kind = s[i + 1];
        i += 2;
        switch (kind) {
            case '\\':
                out += '\\';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'x': {
                const long byte = read_hex(s, i, 2);
                require(byte >= 0, "escape_text wrote \\x without two hex digits", s);
                out += static_cast<char>(byte);
                i += 2;
                break;
            }
            case 'u': {
                const long cp = read_hex(s, i, 4);
                require(cp >= 0, "escape_text wrote \\u without four hex digits", s);
                append_utf8(out, static_cast<uint32_t>(cp));
                i += 4;
                break;
            }
            case 'U': {  // past the BMP: the tag characters, variation selectors 17-256, ...
                const long cp = read_hex(s, i, 8);
                require(cp > 0xffff && cp <= 0x10ffff,
                        "escape_text wrote \\U without eight hex digits of a code point past the BMP", s);
                append_utf8(out, static_cast<uint32_t>(cp));
                i += 8;
                break;
            }
            default:
                initwatch::fuzz::fail("escape_text wrote an unknown escape", s);
        }
    }
    return out;
}

bool is_plain_safe_text(std::string_view s) {
    if (s.find('\\') != std::string_view::npos) return false;
    uint32_t cp;
    for (size_t i = 0; i < s.size();)
        if (!initwatch::fuzz::next_code_point(s, i, cp) || initwatch::fuzz::is_terminal_unsafe(cp))
            return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const std::string escaped = initwatch::report::escape_text(input);

    for (unsigned char c : escaped)
        require(c >= 0x20 && c != 0x7f, "a C0 control or DEL byte survived escaping", escaped);
    initwatch::fuzz::require_terminal_safe(escaped, false);
    require(unescape(escaped) == input, "escaping lost information: unescaping does not give the input back",
            escaped);
    if (is_plain_safe_text(input))
        require(escaped == input, "safe text without backslashes was changed", escaped);
    return 0;
}
