// An entrypoint script as a POSIX shell reads it, reduced to what a finding needs: each
// command it starts in the background, with its line, the words it runs and the words to
// suggest instead. Pure parsing of untrusted text: bounded work, no expansion, no execution.
//
// What counts as a background command: a command or list ended by `&` (a pipeline, an
// and-or list or a group `( ... ) &`, `{ ...; } &` puts each of its commands in the
// background), and a command that daemonizes what it runs: `setsid -f`, `start-stop-daemon
// --start`, `daemon`. Wrappers (nohup, setsid, env, nice, ionice, stdbuf, exec, command,
// time, gosu, su-exec, chpst) are looked through to the program that runs in the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/argv.h"
#include "model/finding.h"

namespace initwatch::model {

struct ScriptCommand {
    uint32_t line = 0;  // 1-based: the line the command starts on
    std::string text;   // that line as written, without leading blanks and its trailing comment
    // The words of the program it runs in the end, quotes removed, an expansion ($x, ${x},
    // $(...), `...`) left as written: what a process's argv is matched against.
    std::vector<std::string> program;
    // The same words as written (quotes and expansions kept): the command to suggest, in the
    // user's own words.
    std::vector<std::string> program_raw;
    // It may not have run: inside if/case/while/until/for or a function, or after && or ||.
    bool conditional = false;
    // Put in the background with `&` by the script's own shell (a fork of it that the shell
    // did not wait for), not by a daemonizing program it ran in the foreground.
    bool forked = true;
};

struct Script {
    std::vector<ScriptCommand> background;  // in the order of the text
    bool truncated = false;                 // the text was cut (read bound): what follows is unknown
    // What it takes in memory (the budget counts it).
    size_t bytes() const;
};

// Parses a script's text; `truncated` says the text is a prefix of the file. `posix`: the
// shell is sh, dash, ash or busybox, where `cmd &>file` is `cmd &` then `>file`; else (bash,
// zsh, ksh) `&>` is a redirection.
Script parse_script(std::string_view text, bool truncated = false, bool posix = true);

// The index (in Script::background) of the command that started a process running `argv`,
// or nullopt when none fits or more than one line does: never a guess.
std::optional<size_t> match_exec(const Script& script, const Argv& argv);

// The command behind the script process's `index`-th (1-based) background fork, for a fork
// that never exec'd: only when the order of the script's `&` commands says it without doubt
// (one in all, or each up to it run unconditionally).
std::optional<size_t> match_fork(const Script& script, uint32_t index);

// What a shell running a script was given: the script's path (relative to the process's
// working directory unless absolute), or the text of `sh -c TEXT`. nullopt when argv is no
// shell running a script (`sh` alone reads stdin; other programs are no shells).
struct ScriptSource {
    std::optional<std::string> path;  // `sh [options] FILE`, and a `#!` script exec'd directly
    std::optional<std::string> text;  // `sh -c TEXT`
    bool posix = true;                // sh, dash, ash, busybox sh (see parse_script)
};
std::optional<ScriptSource> script_of(const Argv& argv);

// The suggested foreground command for a background command: `exec` and its program in
// the script's own words.
std::string exec_suggestion(const ScriptCommand& command);

// Gives each listed process (and the worker) whose launch the script's lines tell without
// doubt its `source`, then says it in the diagnosis. `file`: where the script is (unset for
// `sh -c`).
void attach_sources(Finding& f, const Script& script, const std::optional<std::string>& file);

}  // namespace initwatch::model
