// Entrypoint scripts read as a shell reads them: which lines start what in the background, and
// which line a left-behind process came from — never a guess.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "model/script.h"

using namespace initwatch::model;

namespace {

std::string story(const std::string& name) {
    std::ifstream in(std::string(TOP_DIR) + "/examples/story/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<uint32_t> lines_of(const Script& s) {
    std::vector<uint32_t> out;
    for (const auto& c : s.background) out.push_back(c.line);
    return out;
}

using Words = std::vector<std::string>;

}  // namespace

TEST_CASE("the story's scripts: each background line, its program and the exec to write") {
    SECTION("2: the server in the background on line 3") {
        const Script s = parse_script(story("2-server-backgrounded.sh"));
        REQUIRE(s.background.size() == 1);
        const ScriptCommand& c = s.background[0];
        CHECK(c.line == 3);
        CHECK(c.text == "nohup sleep 3600 >/dev/null 2>&1 &");
        CHECK(c.program == Words{"sleep", "3600"});
        CHECK_FALSE(c.conditional);
        CHECK(exec_suggestion(c) == "exec sleep 3600");
        CHECK(match_exec(s, Argv{"sleep", "3600"}) == 0u);
        CHECK(match_exec(s, Argv{"/bin/sleep", "3600"}) == 0u);  // found through PATH
        CHECK_FALSE(match_exec(s, Argv{"sleep", "0.3"}));        // a foreground step
        // Caught inside nohup: before it execs the server, and a nohup that is a #! script.
        CHECK(match_exec(s, Argv{"nohup", "sleep", "3600"}) == 0u);
        CHECK(match_exec(s, Argv{"/bin/sh", "/bin/nohup", "sleep", "3600"}) == 0u);
        CHECK_FALSE(match_exec(s, Argv{"/bin/sh", "/bin/other", "sleep", "3600"}));
        CHECK(match_fork(s, 1) == 0u);
        CHECK_FALSE(match_fork(s, 2));
    }
    SECTION("3: the development branch's exit comes after the server's line") {
        const Script s = parse_script(story("3-dev-early-exit.sh"));
        CHECK(lines_of(s) == std::vector<uint32_t>{3});
        CHECK(match_fork(s, 1) == 0u);  // the fork that never got to exec nohup
    }
    SECTION("1: nothing in the background") {
        CHECK(parse_script(story("1-original.sh")).background.empty());
    }
    SECTION("4: two identical lines in a branch: an exec'd one is line 6 or 7, which cannot be told") {
        const Script s = parse_script(story("4-fixed.sh"));
        CHECK(lines_of(s) == std::vector<uint32_t>{6, 7});
        CHECK(s.background[0].conditional);
        CHECK_FALSE(match_exec(s, Argv{"sleep", "3600"}));
        CHECK_FALSE(match_fork(s, 1));
    }
    SECTION("5: the launcher's sh -c, and the text of its own script") {
        const Script s = parse_script(story("5-fixed-launcher.sh"));
        REQUIRE(s.background.size() == 1);
        CHECK(s.background[0].line == 6);
        CHECK(s.background[0].program == Words{"sh", "-c", "sleep 3600 & sleep 3600 &"});
        CHECK(match_exec(s, Argv{"sh", "-c", "sleep 3600 & sleep 3600 &"}) == 0u);
        const Script inner = parse_script(s.background[0].program[2]);
        CHECK(inner.background.size() == 2);
    }
}

TEST_CASE("comments, continuations, here-documents and quotes do not move lines or make commands") {
    const Script s = parse_script(
        "#!/bin/sh\n"                                    // 1
        "# node server.js & (a comment)\n"               // 2
        "echo 'not & background' \"nor & this\"\n"       // 3
        "cat <<EOF > /etc/app.conf\n"                    // 4
        "worker &\n"                                     // 5: here-document text
        "EOF\n"                                          // 6
        "cat <<-'END'\n"                                 // 7
        "\tmore & text\n"                                // 8
        "\tEND\n"                                        // 9
        "nohup /usr/bin/node \\\n"                       // 10
        "    /my-app/server.js --port \"$PORT\" \\\n"    // 11
        "    >>/var/log/app.log 2>&1 &  # the server\n"  // 12
        "wait\n");
    REQUIRE(s.background.size() == 1);
    const ScriptCommand& c = s.background[0];
    CHECK(c.line == 10);
    CHECK(c.text == "nohup /usr/bin/node \\");
    CHECK(c.program == Words{"/usr/bin/node", "/my-app/server.js", "--port", "$PORT"});
    CHECK(c.program_raw == Words{"/usr/bin/node", "/my-app/server.js", "--port", "\"$PORT\""});
    CHECK(exec_suggestion(c) == "exec /usr/bin/node /my-app/server.js --port \"$PORT\"");
    // A word the shell expands matches any one argument; the rest must be equal.
    CHECK(match_exec(s, Argv{"node", "/my-app/server.js", "--port", "8080"}) == 0u);
    CHECK_FALSE(match_exec(s, Argv{"node", "/my-app/server.js", "--port"}));
    CHECK_FALSE(match_exec(s, Argv{"node", "/other.js", "--port", "8080"}));
}

TEST_CASE("lists, groups, pipelines and wrappers: what each background command runs in the end") {
    const Script s = parse_script(
        "set -e\n"                                           // 1
        "cd /app && ./migrate && PORT=80 exec-me --now &\n"  // 2: an and-or list in the background
        "{ redis-server /etc/redis.conf; } &\n"              // 3
        "( sleep 5; worker --queue jobs ) &\n"               // 4
        "tail -f /var/log/x | grep ERROR &\n"                // 5
        "setsid -f env LANG=C nice -n 10 /opt/agent run\n"   // 6: daemonizes itself
        "start-stop-daemon --start --background --exec /usr/sbin/cron -- -f\n"  // 7
        "a & b &\n"                                                             // 8
        "server; exit\n");                                                      // 9
    CHECK(lines_of(s) == std::vector<uint32_t>{2, 2, 2, 3, 4, 4, 5, 5, 6, 7, 8, 8});
    CHECK(s.background[2].program == Words{"exec-me", "--now"});
    CHECK(s.background[2].conditional);  // after &&
    CHECK(s.background[3].program == Words{"redis-server", "/etc/redis.conf"});
    CHECK(s.background[5].program == Words{"worker", "--queue", "jobs"});
    CHECK(s.background[8].program == Words{"/opt/agent", "run"});
    CHECK_FALSE(s.background[8].forked);
    CHECK(s.background[9].program == Words{"/usr/sbin/cron", "-f"});
    CHECK(exec_suggestion(s.background[9]) == "exec /usr/sbin/cron -f");
    CHECK(match_exec(s, Argv{"cron", "-f"}) == 9u);
    CHECK(match_exec(s, Argv{"worker", "--queue", "jobs"}) == 5u);
    CHECK(s.background[10].program == Words{"a"});
    CHECK(s.background[11].program == Words{"b"});
}

TEST_CASE("branches, loops, cases and functions make their commands conditional") {
    const Script s = parse_script(
        "start() { daemon-a & }\n"                          // 1
        "if [ \"$MODE\" = prod ]; then\n"                   // 2
        "  daemon-b &\n"                                    // 3
        "elif [ -n \"$X\" ]; then daemon-c &\n"             // 4
        "else\n"                                            // 5
        "  daemon-d &\n"                                    // 6
        "fi\n"                                              // 7
        "case \"$1\" in\n"                                  // 8
        "  web) web-server & ;;\n"                          // 9
        "  (*) other & ;;\n"                                // 10
        "esac\n"                                            // 11
        "for i in 1 2; do worker $i & done\n"               // 12
        "while read l; do echo \"$l\"; done < /etc/list\n"  // 13
        "always &\n");                                      // 14
    CHECK(lines_of(s) == std::vector<uint32_t>{1, 3, 4, 6, 9, 10, 12, 14});
    for (size_t i = 0; i + 1 < s.background.size(); ++i) CHECK(s.background[i].conditional);
    CHECK_FALSE(s.background.back().conditional);
    CHECK_FALSE(match_fork(s, 1));  // which branch ran is unknown
    CHECK(match_exec(s, Argv{"always"}) == 7u);
}

TEST_CASE("a script that ends in exec, and one whose helper ends before init: nothing left to point at") {
    CHECK(parse_script("#!/bin/sh\n/my-tools/start\nexec node server.js\n").background.empty());
    const Script helper = parse_script("#!/bin/sh\n(sleep 1; touch /ready) &\nexec server\n");
    CHECK(lines_of(helper) == std::vector<uint32_t>{2, 2});
}

TEST_CASE("`&>` is a redirection in bash and a background job in sh") {
    const std::string text = "nohup server &>/dev/null\nsleep 1\n";
    CHECK(lines_of(parse_script(text, false, true)) == std::vector<uint32_t>{1});
    CHECK(parse_script(text, false, false).background.empty());
}

TEST_CASE("which program runs a script: sh FILE, a #! script's rewritten argv, sh -c TEXT, env") {
    const auto path = [](Argv a) {
        auto s = script_of(a);
        return s && s->path ? *s->path : std::string("-");
    };
    const auto text = [](Argv a) {
        auto s = script_of(a);
        return s && s->text ? *s->text : std::string("-");
    };
    CHECK(path({"sh", "/my-app/startup.sh"}) == "/my-app/startup.sh");
    CHECK(path({"/bin/bash", "-e", "-o", "pipefail", "startup.sh", "arg"}) == "startup.sh");
    CHECK(path({"/usr/bin/env", "-i", "PATH=/bin", "bash", "/entry.sh"}) == "/entry.sh");
    CHECK(path({"busybox", "sh", "-x", "/s.sh"}) == "/s.sh");
    CHECK(path({"dash", "--", "-weird-name.sh"}) == "-weird-name.sh");
    CHECK(text({"sh", "-c", "nohup node server.js & exit 0"}) == "nohup node server.js & exit 0");
    CHECK(text({"/bin/sh", "-ec", "x &"}) == "x &");
    CHECK(script_of({"bash", "--norc", "-c", "y"})->posix == false);
    CHECK(script_of({"sh", "-c", "y"})->posix);
    CHECK_FALSE(script_of({"sh"}));        // reads stdin
    CHECK_FALSE(script_of({"sh", "-s"}));  // likewise
    CHECK_FALSE(script_of({"node", "server.js"}));
    CHECK_FALSE(script_of({}));
}

TEST_CASE("hostile scripts stay bounded: nesting, unterminated quotes, NULs, a megabyte of ampersands") {
    std::string deep;
    for (int i = 0; i < 10000; ++i) deep += "( ";
    deep += "x &";
    CHECK_NOTHROW(parse_script(deep));
    CHECK_NOTHROW(parse_script("echo 'never closed & \n x &"));
    CHECK_NOTHROW(parse_script(std::string("a \0 b &\n", 8)));
    CHECK_NOTHROW(parse_script("$( ( ( `"));
    const Script many = parse_script(std::string(1 << 20, '&'));
    CHECK(many.background.empty());
    std::string cmds;
    for (int i = 0; i < 10000; ++i) cmds += "w" + std::to_string(i) + " &\n";
    CHECK(parse_script(cmds).background.size() == 4096);
}
