#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "report/escape.h"
#include "report/json_writer.h"
#include "util/utf8.h"

using initwatch::report::escape_text;
using initwatch::report::format_command;
using initwatch::report::json_quote;
using initwatch::util::is_unsafe_codepoint;
using initwatch::util::unsafe_codepoint_ranges;

TEST_CASE("terminal escapes and control characters become visible") {
    CHECK(escape_text("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
    CHECK(escape_text("a\nb\tc\rd") == "a\\nb\\tc\\rd");
    CHECK(escape_text(std::string("nul\0x", 5)) == "nul\\x00x");
    CHECK(escape_text("del\x7f") == "del\\x7f");
    CHECK(escape_text("back\\slash") == "back\\\\slash");
}

TEST_CASE("valid UTF-8 stays, invalid bytes and dangerous code points are escaped") {
    CHECK(escape_text("café ☕") == "café ☕");
    CHECK(escape_text("\xff\xfe") == "\\xff\\xfe");
    CHECK(escape_text("\xc3") == "\\xc3");           // truncated sequence
    CHECK(escape_text("\xc0\xaf") == "\\xc0\\xaf");  // overlong
    CHECK(escape_text("\xc2\x9b"
                      "2J") == "\\u009b2J");  // C1 CSI
    CHECK(escape_text("a\xe2\x80\xae"
                      "b") == "a\\u202eb");  // right-to-left override
    CHECK(escape_text("\xe2\x81\xa7"
                      "x") == "\\u2067x");  // right-to-left isolate
    CHECK(escape_text("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c") == "\\u200e\\u200f\\u061c");  // LRM RLM ALM
    CHECK(escape_text("a\xe2\x80\x8b"
                      "b\xef\xbb\xbf") == "a\\u200bb\\ufeff");  // zero-width, BOM
}

TEST_CASE("a 4 KiB hostile string stays on one line") {
    std::string hostile;
    for (int i = 0; i < 1024; ++i) hostile += "\n\x1b\xff ";
    const std::string out = escape_text(hostile);
    CHECK(out.find('\n') == std::string::npos);
    CHECK(out.find('\x1b') == std::string::npos);
}

TEST_CASE("format_command quotes like a shell and marks truncation") {
    CHECK(format_command({"sh", "-c", "sleep 30 & exit"}, "sh", false) == "sh -c 'sleep 30 & exit'");
    CHECK(format_command({"echo", ""}, "echo", false) == "echo ''");
    CHECK(format_command({"it's"}, "x", false) == "'it'\\''s'");
    CHECK(format_command({}, "kworker\n", false) == "[kworker\\n]");
    CHECK(format_command({"a"}, "a", true) == "a …");
}

namespace {

std::string utf8(uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xc0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        s += static_cast<char>(0xe0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        s += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        s += static_cast<char>(0xf0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        s += static_cast<char>(0x80 | (cp & 0x3f));
    }
    return s;
}

std::string text_escape_of(uint32_t cp) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), cp > 0xffff ? "\\U%08x" : "\\u%04x", cp);
    return buf;
}

bool all_ascii(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Each code point of a range: raw between two letters, it comes out escaped in text and in
// JSON, and JSON still reads back as the same string.
size_t check_escaped(uint32_t first, uint32_t last) {
    size_t checked = 0;
    for (uint32_t cp = first; cp <= last; ++cp) {
        if (cp < 0x80) continue;  // ASCII controls: the cases above (\n, \x1b)
        const std::string raw = "a" + utf8(cp) + "b";
        INFO("U+" << std::hex << cp);
        REQUIRE(escape_text(raw) == "a" + text_escape_of(cp) + "b");
        const std::string quoted = json_quote(raw);
        REQUIRE(all_ascii(quoted));
        REQUIRE(nlohmann::json::parse(quoted).get<std::string>() == raw);
        ++checked;
    }
    return checked;
}

}  // namespace

TEST_CASE(
    "every default-ignorable code point, tag, variation selector and filler is escaped in text and JSON") {
    size_t checked = 0;
    for (const auto& r : unsafe_codepoint_ranges()) checked += check_escaped(r.first, r.last);
    // The 19 an audit (issue 26) found passing raw, each by name.
    struct Named {
        uint32_t first, last;
    };
    for (const Named& n :
         {Named{0x00ad, 0x00ad}, Named{0x034f, 0x034f}, Named{0x115f, 0x1160}, Named{0x17b4, 0x17b4},
          Named{0x180e, 0x180e}, Named{0x206a, 0x206f}, Named{0x3164, 0x3164}, Named{0xfe0f, 0xfe0f},
          Named{0xffa0, 0xffa0}, Named{0xfff9, 0xfffb}, Named{0x1bca0, 0x1bca0}, Named{0x1d173, 0x1d173},
          Named{0xe0001, 0xe0001}, Named{0xe0020, 0xe007f}, Named{0xe0100, 0xe0100}})
        check_escaped(n.first, n.last);
    WARN(checked << " non-ASCII code points escaped in text and JSON");
    CHECK(checked == 4211);
    // Their printable neighbours stay as they are.
    for (const uint32_t cp :
         {0xacu, 0xaeu, 0x2027u, 0x2070u, 0xfe10u, 0xfffcu, 0x1d172u, 0x1f600u, 0xe1000u}) {
        INFO("U+" << std::hex << cp);
        CHECK(escape_text(utf8(cp)) == utf8(cp));
        CHECK(json_quote(utf8(cp)) == "\"" + utf8(cp) + "\"");
    }
}

// Unicode's own list (Debian's unicode-data); required in CI, where tools/setup installs it.
TEST_CASE("the table holds every Default_Ignorable_Code_Point of DerivedCoreProperties.txt") {
    std::ifstream in("/usr/share/unicode/DerivedCoreProperties.txt");
    if (!in) {
        const char* ci = std::getenv("CI");
        if (ci && std::string(ci) == "true")
            FAIL("no /usr/share/unicode/DerivedCoreProperties.txt (unicode-data)");
        WARN("no /usr/share/unicode/DerivedCoreProperties.txt (unicode-data): not checked");
        return;
    }
    size_t listed = 0;
    std::string line;
    while (std::getline(in, line)) {
        line = line.substr(0, line.find('#'));
        const size_t semi = line.find(';');
        if (semi == std::string::npos) continue;
        std::string property = line.substr(semi + 1);
        property.erase(std::remove(property.begin(), property.end(), ' '), property.end());
        if (property != "Default_Ignorable_Code_Point") continue;
        const std::string range = line.substr(0, semi);
        const size_t dots = range.find("..");
        const uint32_t first = std::stoul(range, nullptr, 16);
        const uint32_t last =
            dots == std::string::npos ? first : std::stoul(range.substr(dots + 2), nullptr, 16);
        for (uint32_t cp = first; cp <= last; ++cp) {
            INFO("U+" << std::hex << cp);
            REQUIRE(is_unsafe_codepoint(cp));
            ++listed;
        }
    }
    WARN(listed << " Default_Ignorable_Code_Point code points in the Unicode data, all in the table");
    CHECK(listed > 4000);
}
