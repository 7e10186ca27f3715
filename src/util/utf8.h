// UTF-8 decoding for the outputs' escapers: one definition of what a valid sequence is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace initwatch::util {

// Length of the valid UTF-8 sequence at s[i] and its code point in `cp`; 0 when the bytes
// there are not valid UTF-8 (overlong forms, surrogates and code points past U+10FFFF
// included). ASCII is a sequence of length 1.
size_t decode_utf8(std::string_view s, size_t i, uint32_t& cp);

// Code points that change how a terminal shows what follows, or hide text: C0 and C1
// controls and DEL, line/paragraph separators, the interlinear annotation controls, and
// every Default_Ignorable_Code_Point of Unicode 15 (DerivedCoreProperties.txt: bidi
// controls, zero-width characters, soft hyphen, Hangul fillers, variation selectors, tag
// characters, U+FEFF and the reserved code points of those blocks). Both outputs escape them.
bool is_unsafe_codepoint(uint32_t cp);

// The same set as sorted, disjoint, inclusive ranges: what the tests check against the
// Unicode data.
struct CodepointRange {
    uint32_t first;
    uint32_t last;
};
const std::vector<CodepointRange>& unsafe_codepoint_ranges();

// The longest prefix of s of at most max_bytes that does not cut a UTF-8 sequence.
size_t utf8_prefix_length(std::string_view s, size_t max_bytes);

}  // namespace initwatch::util
