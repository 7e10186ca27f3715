#include <catch2/catch.hpp>

#include "report/escape.h"

using initwatch::report::escape_text;
using initwatch::report::format_command;

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
