#include "report/escape.h"

#include <cstdint>
#include <cstdio>

#include "model/command_line.h"

namespace initwatch::report {

namespace {

void append_hex_byte(std::string& out, unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02x", c);
    out += buf;
}

void append_codepoint_escape(std::string& out, uint32_t cp) {
    char buf[12];
    std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
    out += buf;
}

// Length of the valid UTF-8 sequence at s[i] and its code point; 0 when invalid.
size_t decode_utf8(std::string_view s, size_t i, uint32_t& cp) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    size_t len;
    uint32_t min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

bool is_unsafe_codepoint(uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9f)          // C1 controls (0x9b is a CSI)
           || (cp >= 0x202a && cp <= 0x202e)   // bidi embeddings and overrides
           || (cp >= 0x2066 && cp <= 0x2069)   // bidi isolates
           || cp == 0x2028 || cp == 0x2029;    // line and paragraph separators
}

}  // namespace

std::string escape_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (c < 0x20 || c == 0x7f)
                        append_hex_byte(out, c);
                    else
                        out += static_cast<char>(c);
            }
            ++i;
            continue;
        }
        uint32_t cp = 0;
        const size_t len = decode_utf8(s, i, cp);
        if (len == 0) {
            append_hex_byte(out, c);
            ++i;
        } else {
            if (is_unsafe_codepoint(cp))
                append_codepoint_escape(out, cp);
            else
                out.append(s.substr(i, len));
            i += len;
        }
    }
    return out;
}

std::string format_command(const std::vector<std::string>& argv, std::string_view fallback,
                           bool truncated) {
    if (argv.empty()) return "[" + escape_text(fallback) + "]";
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += model::shell_quote(escape_text(a));
    }
    if (truncated) out += " …";
    return out;
}

}  // namespace initwatch::report
