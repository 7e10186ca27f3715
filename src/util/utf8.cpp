#include "util/utf8.h"

#include <algorithm>
#include <iterator>

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

const std::vector<CodepointRange>& unsafe_codepoint_ranges() {
    static const std::vector<CodepointRange> ranges = {
        {0x0000, 0x001f},    // C0 controls
        {0x007f, 0x009f},    // DEL, C1 controls (0x9b is a CSI)
        {0x00ad, 0x00ad},    // soft hyphen
        {0x034f, 0x034f},    // combining grapheme joiner
        {0x061c, 0x061c},    // Arabic letter mark
        {0x115f, 0x1160},    // Hangul choseong and jungseong fillers
        {0x17b4, 0x17b5},    // Khmer inherent vowels
        {0x180b, 0x180f},    // Mongolian free variation selectors, vowel separator
        {0x200b, 0x200f},    // zero-width space, non-joiner, joiner; LRM, RLM
        {0x2028, 0x202e},    // line/paragraph separators, bidi embeddings and overrides
        {0x2060, 0x206f},    // word joiner, invisible operators, isolates, deprecated format
        {0x3164, 0x3164},    // Hangul filler
        {0xfe00, 0xfe0f},    // variation selectors 1-16
        {0xfeff, 0xfeff},    // zero-width no-break space (BOM)
        {0xffa0, 0xffa0},    // halfwidth Hangul filler
        {0xfff0, 0xfffb},    // reserved, interlinear annotation anchor/separator/terminator
        {0x1bca0, 0x1bca3},  // shorthand format controls
        {0x1d173, 0x1d17a},  // musical symbol beam and phrase controls
        {0xe0000, 0xe0fff},  // language tag, tag characters, variation selectors 17-256
    };
    return ranges;
}

bool is_unsafe_codepoint(uint32_t cp) {
    if (cp >= 0x20 && cp < 0x7f) return false;  // printable ASCII: most of every string
    const auto& ranges = unsafe_codepoint_ranges();
    const auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                                     [](uint32_t c, const CodepointRange& r) { return c < r.first; });
    return it != ranges.begin() && cp <= std::prev(it)->last;
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
