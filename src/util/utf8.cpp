#include "util/utf8.h"

namespace initwatch::util {

size_t decode_utf8(std::string_view s, size_t i, uint32_t& cp) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80) {
        cp = c;
        return 1;
    }
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
    return cp < 0x20 || cp == 0x7f            // C0 controls, DEL
           || (cp >= 0x80 && cp <= 0x9f)      // C1 controls (0x9b is a CSI)
           || cp == 0x061c                    // ARABIC LETTER MARK
           || (cp >= 0x200b && cp <= 0x200f)  // zero-width space/joiners, LRM, RLM
           || (cp >= 0x2028 && cp <= 0x202e)  // separators, bidi embeddings and overrides
           || (cp >= 0x2060 && cp <= 0x2069)  // word joiner, invisible operators, isolates
           || cp == 0xfeff;                   // zero-width no-break space (BOM)
}

}  // namespace initwatch::util

namespace initwatch::util {

size_t utf8_prefix_length(std::string_view s, size_t max_bytes) {
    if (s.size() <= max_bytes) return s.size();
    size_t i = 0;
    while (i < max_bytes) {
        uint32_t cp = 0;
        const size_t len = decode_utf8(s, i, cp);
        const size_t step = len ? len : 1;  // an invalid byte is one unit (escaped by the outputs)
        if (i + step > max_bytes) break;
        i += step;
    }
    return i;
}

}  // namespace initwatch::util
