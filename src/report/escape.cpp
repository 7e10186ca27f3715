#include "report/escape.h"

#include <cstdint>
#include <cstdio>

#include "util/shell_quote.h"
#include "util/utf8.h"

namespace initwatch::report {

namespace {

void append_hex_byte(std::string& out, unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02x", c);
    out += buf;
}

// \u200b; \U000e0001 past the BMP (as C and Python write them: never read as \u and digits).
void append_codepoint_escape(std::string& out, uint32_t cp) {
    char buf[12];
    std::snprintf(buf, sizeof(buf), cp > 0xffff ? "\\U%08x" : "\\u%04x", cp);
    out += buf;
}

}  // namespace

std::string escape_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '\\':
                    out += "\\\\";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
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
        const size_t len = util::decode_utf8(s, i, cp);
        if (len == 0) {
            append_hex_byte(out, c);
            ++i;
        } else {
            if (util::is_unsafe_codepoint(cp))
                append_codepoint_escape(out, cp);
            else
                out.append(s.substr(i, len));
            i += len;
        }
    }
    return out;
}

std::string format_command(const model::Argv& argv, std::string_view fallback, bool truncated) {
    if (argv.empty()) return "[" + escape_text(fallback) + "]";
    std::string out;
    for (std::string_view a : argv) {
        if (!out.empty()) out += ' ';
        out += util::shell_quote(escape_text(a));
    }
    if (truncated) out += " …";
    return out;
}

}  // namespace initwatch::report
