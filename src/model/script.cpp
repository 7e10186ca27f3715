#include "model/script.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace initwatch::model {

namespace {

// Bounds on what a hostile script can make the parser do: the text is at most 64 KiB (the
// reader's bound), and each of these is reached long before the work is large.
constexpr size_t kMaxDepth = 64;       // nesting of groups and compound commands
constexpr size_t kMaxCommands = 4096;  // background commands kept
constexpr size_t kMaxWords = 256;      // words of one command kept
constexpr size_t kMaxTextBytes = 512;  // of a command's line kept

// ---------------------------------------------------------------------------- lexing

enum class Tok { word, op, newline, end };

struct Token {
    Tok kind = Tok::end;
    std::string raw;    // as written
    std::string value;  // a word without its quotes; an operator itself
    uint32_t line = 0;
    bool after_blank = false;  // blanks before it (`2>` is a redirection of fd 2, `2 >` is not)
};

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

bool operator_char(char c) {
    return c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '<' || c == '>';
}

class Lexer {
public:
    Lexer(std::string_view text, bool posix) : s_(text), posix_(posix) {}

    Token next() {
        // Blanks, comments, and `\` + newline (a continuation) between tokens.
        const size_t before = i_;
        for (;;) {
            while (i_ < s_.size() && blank(s_[i_])) ++i_;
            if (i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == '\n') {
                i_ += 2;
                ++line_;
                continue;
            }
            if (i_ < s_.size() && s_[i_] == '#') {
                while (i_ < s_.size() && s_[i_] != '\n') ++i_;
                continue;
            }
            break;
        }
        Token t;
        t.line = line_;
        t.after_blank = i_ != before;
        if (i_ >= s_.size()) return t;
        const char c = s_[i_];
        if (c == '\n') {
            ++i_;
            ++line_;
            t.kind = Tok::newline;
            skip_heredocs();
            return t;
        }
        if (operator_char(c)) {
            static const std::array<std::string_view, 16> ops{"&&", "||", ";;", "<<-", "<<",  ">>",
                                                              "<&", ">&", "<>", ">|",  "&>>", "&>",
                                                              "|&", ";",  "&",  "|"};
            for (std::string_view op : ops)
                if (s_.substr(i_, op.size()) == op &&
                    !(posix_ && op[0] == '&' && op.size() > 1 && op[1] == '>')) {
                    i_ += op.size();
                    t.kind = Tok::op;
                    t.raw = t.value = std::string(op);
                    return t;
                }
            ++i_;
            t.kind = Tok::op;
            t.raw = t.value = std::string(1, c);
            return t;
        }
        t.kind = Tok::word;
        word(t);
        return t;
    }

    // A here-document starts on the line after its operator: its delimiter, as the next word
    // gave it.
    void heredoc(const std::string& delimiter, bool strip_tabs) {
        heredocs_.push_back({delimiter, strip_tabs});
    }
    uint32_t line() const { return line_; }
    // The line `line` as written, from its first non-blank character to its comment or end.
    std::string line_text(uint32_t line) const;

private:
    void word(Token& t) {
        const size_t start = i_;
        while (i_ < s_.size()) {
            const char c = s_[i_];
            if (blank(c) || c == '\n' || operator_char(c)) break;
            if (c == '\\' && i_ + 1 < s_.size()) {
                if (s_[i_ + 1] == '\n') {  // a continuation inside a word
                    i_ += 2;
                    ++line_;
                    continue;
                }
                t.value += s_[i_ + 1];
                i_ += 2;
            } else if (c == '\'') {
                const size_t end = s_.find('\'', i_ + 1);
                const size_t stop = end == std::string_view::npos ? s_.size() : end;
                count_lines(i_, stop);
                t.value.append(s_.substr(i_ + 1, stop - i_ - 1));
                i_ = stop == s_.size() ? stop : stop + 1;
            } else if (c == '"') {
                ++i_;
                while (i_ < s_.size() && s_[i_] != '"') {
                    if (s_[i_] == '\\' && i_ + 1 < s_.size() &&
                        std::string_view("$`\"\\\n").find(s_[i_ + 1]) != std::string_view::npos) {
                        if (s_[i_ + 1] == '\n')
                            ++line_;
                        else
                            t.value += s_[i_ + 1];
                        i_ += 2;
                    } else if (s_[i_] == '$' || s_[i_] == '`') {
                        expansion(t);
                    } else {
                        if (s_[i_] == '\n') ++line_;
                        t.value += s_[i_++];
                    }
                }
                if (i_ < s_.size()) ++i_;
            } else if (c == '$' || c == '`') {
                expansion(t);
            } else {
                t.value += c;
                ++i_;
            }
        }
        t.raw = std::string(s_.substr(start, i_ - start));
    }

    // $name, ${...}, $(...), $((...)), `...`: kept as written in the value (the shell would
    // expand it; initwatch cannot). Nested parentheses and braces are balanced, quotes inside
    // skipped.
    void expansion(Token& t) {
        const size_t start = i_;
        if (s_[i_] == '`') {
            ++i_;
            while (i_ < s_.size() && s_[i_] != '`') {
                if (s_[i_] == '\\') ++i_;
                if (i_ < s_.size() && s_[i_] == '\n') ++line_;
                ++i_;
            }
            if (i_ < s_.size()) ++i_;
        } else if (i_ + 1 < s_.size() && (s_[i_ + 1] == '(' || s_[i_ + 1] == '{')) {
            const char open = s_[i_ + 1], close = open == '(' ? ')' : '}';
            i_ += 2;
            for (size_t depth = 1; i_ < s_.size() && depth;) {
                const char c = s_[i_];
                if (c == '\\') {
                    i_ += 2;
                    continue;
                }
                if (c == '\'' || c == '"') {
                    const size_t end = s_.find(c, i_ + 1);
                    const size_t stop = end == std::string_view::npos ? s_.size() : end;
                    count_lines(i_, stop);
                    i_ = stop == s_.size() ? stop : stop + 1;
                    continue;
                }
                if (c == '\n') ++line_;
                if (c == open) ++depth;
                if (c == close) --depth;
                ++i_;
            }
        } else {
            ++i_;  // $ then a name, a digit or a special parameter
            if (i_ < s_.size() &&
                std::string_view("@*#?-$!0123456789").find(s_[i_]) != std::string_view::npos)
                ++i_;
            else
                while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_'))
                    ++i_;
        }
        t.value.append(s_.substr(start, i_ - start));
    }

    void count_lines(size_t from, size_t to) {
        line_ += static_cast<uint32_t>(std::count(s_.begin() + from, s_.begin() + to, '\n'));
    }

    // The bodies of the here-documents whose operators were on the line just ended.
    void skip_heredocs() {
        for (const auto& [delimiter, strip_tabs] : heredocs_) {
            while (i_ < s_.size()) {
                const size_t end = std::min(s_.find('\n', i_), s_.size());
                std::string_view line = s_.substr(i_, end - i_);
                if (strip_tabs)
                    while (!line.empty() && line.front() == '\t') line.remove_prefix(1);
                i_ = end == s_.size() ? end : end + 1;
                ++line_;
                if (line == delimiter) break;
            }
        }
        heredocs_.clear();
    }

    std::string_view s_;
    bool posix_;  // `&>` is `&` then `>`
    size_t i_ = 0;
    uint32_t line_ = 1;
    std::vector<std::pair<std::string, bool>> heredocs_;
};

std::string Lexer::line_text(uint32_t line) const {
    size_t at = 0;
    for (uint32_t l = 1; l < line && at < s_.size(); ++l) {
        const size_t nl = s_.find('\n', at);
        if (nl == std::string_view::npos) return {};
        at = nl + 1;
    }
    const size_t end = std::min(s_.find('\n', at), s_.size());
    std::string_view text = s_.substr(at, end - at);
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    // Its comment: a `#` that starts a word outside quotes.
    char quote = 0;
    for (size_t k = 0; k < text.size(); ++k) {
        const char c = text[k];
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '\\') {
            ++k;
        } else if (c == '#' && (k == 0 || blank(text[k - 1]))) {
            text = text.substr(0, k);
            break;
        }
    }
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    return std::string(text.substr(0, kMaxTextBytes));
}

// ---------------------------------------------------------------------------- parsing

struct Simple {
    uint32_t line = 0;
    std::vector<std::string> words, raw;  // without assignments and redirections
};

struct Item;  // forward: a list of commands with how it ends

struct Command {
    enum Kind { simple, group, branches } kind = simple;
    Simple words;
    std::vector<Item> body;  // group (`( )`, `{ }`): runs as a unit; branches: conditional parts
    std::vector<Item> head;  // branches: what runs unconditionally (if's and while's condition)
};

struct Item {
    std::vector<std::vector<Command>> and_or;  // pipelines joined by && or ||
    bool background = false;                   // ended by `&`
};

bool redirection(const std::string& op) {
    return op == "<" || op == ">" || op == ">>" || op == "<&" || op == ">&" || op == "<>" || op == ">|" ||
           op == "<<" || op == "<<-" || op == "&>" || op == "&>>";
}

bool assignment(const std::string& raw) {
    const size_t eq = raw.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    for (size_t k = 0; k < eq; ++k) {
        const char c = raw[k];
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_') ||
            (k == 0 && std::isdigit(static_cast<unsigned char>(c))))
            return false;
    }
    return true;
}

bool digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class Parser {
public:
    explicit Parser(Lexer& lexer) : lex_(lexer) { advance(); }

    // Commands up to one of `ends` (a reserved word at command position, or `)`), or the end.
    std::vector<Item> list(const std::vector<std::string>& ends, size_t depth) {
        std::vector<Item> items;
        for (;;) {
            skip_separators();
            if (tok_.kind == Tok::end || at_end(ends)) return items;
            if (depth > kMaxDepth) {  // hostile nesting: skip what is left at this depth
                advance();
                continue;
            }
            Item item;
            for (;;) {
                std::vector<Command> pipeline;
                for (;;) {
                    pipeline.push_back(command(depth));
                    if (!is_op("|") && !is_op("|&")) break;
                    advance();
                    skip_newlines();
                }
                item.and_or.push_back(std::move(pipeline));
                if (!is_op("&&") && !is_op("||")) break;
                advance();
                skip_newlines();
            }
            if (is_op("&")) {
                item.background = true;
                advance();
            }
            const bool ended = item.background;  // `a & b`: the next command may follow at once
            items.push_back(std::move(item));
            if (tok_.kind == Tok::end || at_end(ends) || ended) continue;
            if (!is_op(";") && !is_op("&") && tok_.kind != Tok::newline && !is_op(";;")) {
                if (is_op(")")) return items;  // a stray ')' (a case pattern the parser missed)
                advance();                     // something it cannot place: go on
            }
        }
    }

private:
    bool is_op(const char* op) const { return tok_.kind == Tok::op && tok_.value == op; }
    bool is_word(const char* w) const { return tok_.kind == Tok::word && tok_.raw == w; }
    bool at_end(const std::vector<std::string>& ends) const {
        for (const auto& e : ends)
            if ((e == ")" && is_op(")")) || (e == ";;" && is_op(";;")) ||
                (tok_.kind == Tok::word && tok_.raw == e))
                return true;
        return false;
    }
    void advance() { tok_ = lex_.next(); }
    void skip_newlines() {
        while (tok_.kind == Tok::newline) advance();
    }
    void skip_separators() {
        while (tok_.kind == Tok::newline || is_op(";") || is_op("&")) advance();
    }
    void expect_word(const char* w) {
        if (is_word(w)) advance();
    }

    Command command(size_t depth) {
        Command c;
        if (tok_.kind == Tok::word && tok_.raw == "!") advance();
        if (is_op("(")) {
            advance();
            c.kind = Command::group;
            c.body = list({")"}, depth + 1);
            if (is_op(")")) advance();
            redirections_only();
            return c;
        }
        if (tok_.kind == Tok::word) {
            const std::string w = tok_.raw;
            if (w == "{") {
                advance();
                c.kind = Command::group;
                c.body = list({"}"}, depth + 1);
                expect_word("}");
                redirections_only();
                return c;
            }
            if (w == "if") return if_command(depth);
            if (w == "while" || w == "until") {
                advance();
                c.kind = Command::branches;
                c.head = list({"do"}, depth + 1);
                expect_word("do");
                c.body = list({"done"}, depth + 1);
                expect_word("done");
                redirections_only();
                return c;
            }
            if (w == "for") {
                while (tok_.kind != Tok::end && !is_word("do")) advance();  // the loop's header
                expect_word("do");
                c.kind = Command::branches;
                c.body = list({"done"}, depth + 1);
                expect_word("done");
                redirections_only();
                return c;
            }
            if (w == "case") return case_command(depth);
            if (w == "function") {  // bash: function NAME [()] { ...; }
                advance();
                if (tok_.kind == Tok::word) advance();
                if (is_op("(")) advance();
                if (is_op(")")) advance();
                return function_body(depth);
            }
        }
        c.words = simple();
        if (c.words.words.size() == 1 && is_op("(")) {  // NAME() compound: a function definition
            advance();
            if (is_op(")")) advance();
            return function_body(depth);
        }
        return c;
    }

    Command function_body(size_t depth) {
        skip_newlines();
        Command body = command(depth + 1);
        Command c;
        c.kind = Command::branches;  // defined here, run maybe
        Item item;
        item.and_or.push_back({std::move(body)});
        c.body.push_back(std::move(item));
        return c;
    }

    Command if_command(size_t depth) {
        Command c;
        c.kind = Command::branches;
        advance();
        c.head = list({"then"}, depth + 1);
        expect_word("then");
        for (;;) {
            auto part = list({"elif", "else", "fi"}, depth + 1);
            for (auto& i : part) c.body.push_back(std::move(i));
            if (is_word("elif")) {
                advance();
                auto cond = list({"then"}, depth + 1);  // later conditions run only if earlier ones failed
                for (auto& i : cond) c.body.push_back(std::move(i));
                expect_word("then");
                continue;
            }
            if (is_word("else")) {
                advance();
                continue;
            }
            break;
        }
        expect_word("fi");
        redirections_only();
        return c;
    }

    Command case_command(size_t depth) {
        Command c;
        c.kind = Command::branches;
        while (tok_.kind != Tok::end && !is_word("in")) advance();
        expect_word("in");
        for (;;) {
            skip_newlines();
            if (tok_.kind == Tok::end || is_word("esac")) break;
            // The pattern list, up to its ')'.
            if (is_op("(")) advance();
            while (tok_.kind != Tok::end && !is_op(")")) advance();
            if (is_op(")")) advance();
            auto arm = list({";;", "esac"}, depth + 1);
            for (auto& i : arm) c.body.push_back(std::move(i));
            if (is_op(";;")) advance();
        }
        expect_word("esac");
        redirections_only();
        return c;
    }

    // A compound command's own redirections (`done > log`): skipped.
    void redirections_only() {
        while (tok_.kind == Tok::op && redirection(tok_.value)) {
            const bool here = tok_.value == "<<" || tok_.value == "<<-";
            const bool tabs = tok_.value == "<<-";
            advance();
            if (tok_.kind == Tok::word) {
                if (here) lex_.heredoc(tok_.value, tabs);
                advance();
            }
        }
    }

    Simple simple() {
        Simple s;
        s.line = tok_.line;
        bool leading = true;  // assignments count only before the command's first word
        while (tok_.kind == Tok::word || (tok_.kind == Tok::op && redirection(tok_.value))) {
            if (tok_.kind == Tok::op) {
                redirections_only();
                continue;
            }
            // An IO number (`2>`): a word of digits right before a redirection, no blank between.
            Token word = tok_;
            advance();
            if (digits(word.raw) && tok_.kind == Tok::op && redirection(tok_.value) && !tok_.after_blank)
                continue;
            if (leading && assignment(word.raw)) continue;
            leading = false;
            if (s.words.size() < kMaxWords) {
                s.words.push_back(std::move(word.value));
                s.raw.push_back(std::move(word.raw));
            }
        }
        return s;
    }

    Lexer& lex_;
    Token tok_;
};

// ---------------------------------------------------------------------------- wrappers

std::string basename_of(std::string_view w) {
    const size_t slash = w.rfind('/');
    return std::string(slash == std::string_view::npos ? w : w.substr(slash + 1));
}

bool option(const std::string& w) { return w.size() > 1 && w[0] == '-'; }

// Where the program a command runs starts, looking through wrappers; `daemonizes` is set when a
// wrapper puts it in the background itself. words.size() when there is none.
size_t program_start(const std::vector<std::string>& words, bool& daemonizes) {
    size_t i = 0;
    for (size_t guard = 0; i < words.size() && guard < 16; ++guard) {
        const std::string w = basename_of(words[i]);
        if (w == "nohup" || w == "command" || w == "builtin" || w == "time" || w == "chpst") {
            ++i;
            while (i < words.size() && option(words[i]) && w != "nohup") ++i;
        } else if (w == "exec") {
            ++i;
            while (i < words.size() && option(words[i])) i += words[i] == "-a" ? 2 : 1;
        } else if (w == "setsid") {
            ++i;
            while (i < words.size() && option(words[i])) {
                if (words[i] == "-f" || words[i] == "--fork") daemonizes = true;
                ++i;
            }
        } else if (w == "env") {
            ++i;
            while (i < words.size() && (option(words[i]) || assignment(words[i])))
                i += (words[i] == "-u" || words[i] == "-C" || words[i] == "-S") ? 2 : 1;
        } else if (w == "nice" || w == "ionice" || w == "stdbuf" || w == "taskset") {
            ++i;
            while (i < words.size() && option(words[i])) {
                const bool takes = words[i] == "-n" || words[i] == "-c" || words[i] == "-p" ||
                                   words[i] == "-i" || words[i] == "-o" || words[i] == "-e";
                i += takes ? 2 : 1;
            }
            if (w == "taskset" && i < words.size()) ++i;  // the CPU list
        } else if (w == "gosu" || w == "su-exec") {
            i += 2;  // the user
        } else if (w == "start-stop-daemon") {
            // start-stop-daemon --start [--background] --exec PROG [-- ARGS]: PROG, then ARGS.
            daemonizes = true;
            for (size_t k = i + 1; k < words.size(); ++k)
                if ((words[k] == "--exec" || words[k] == "-x" || words[k] == "--startas" ||
                     words[k] == "-a") &&
                    k + 1 < words.size())
                    return k + 1;
            return words.size();
        } else if (w == "daemon") {
            daemonizes = true;
            ++i;
            while (i < words.size() && option(words[i]) && words[i] != "--") ++i;
            if (i < words.size() && words[i] == "--") ++i;
        } else {
            break;
        }
    }
    return std::min(i, words.size());
}

// start-stop-daemon's program arguments come after `--`; the options between are not its.
void drop_daemon_options(std::vector<std::string>& program, std::vector<std::string>& raw) {
    const auto dashes = std::find(program.begin() + 1, program.end(), "--");
    if (dashes == program.end()) {
        program.resize(1);
        raw.resize(1);
        return;
    }
    const auto at = dashes - program.begin();
    program.erase(program.begin() + 1, dashes + 1);
    raw.erase(raw.begin() + 1, raw.begin() + at + 1);
}

// ---------------------------------------------------------------------------- collecting

struct Walk {
    Lexer& lexer;
    Script& out;
};

void collect(const std::vector<Item>& items, bool background, bool conditional, size_t depth, Walk& w);

void collect_command(const Command& c, bool background, bool conditional, size_t depth, Walk& w) {
    if (depth > kMaxDepth) return;
    switch (c.kind) {
        case Command::group:
            collect(c.body, background, conditional, depth + 1, w);
            return;
        case Command::branches:
            collect(c.head, background, conditional, depth + 1, w);
            collect(c.body, background, true, depth + 1, w);
            return;
        case Command::simple:
            break;
    }
    const Simple& s = c.words;
    if (s.words.empty() || w.out.background.size() >= kMaxCommands) return;
    bool daemonizes = false;
    const size_t start = program_start(s.words, daemonizes);
    if (!background && !daemonizes) return;
    if (start >= s.words.size()) return;  // a wrapper alone
    ScriptCommand cmd;
    cmd.line = s.line;
    cmd.text = w.lexer.line_text(s.line);
    cmd.program.assign(s.words.begin() + static_cast<std::ptrdiff_t>(start), s.words.end());
    cmd.program_raw.assign(s.raw.begin() + static_cast<std::ptrdiff_t>(start), s.raw.end());
    if (basename_of(s.words.front()) == "start-stop-daemon")
        drop_daemon_options(cmd.program, cmd.program_raw);
    cmd.conditional = conditional;
    cmd.forked = background;
    w.out.background.push_back(std::move(cmd));
}

void collect(const std::vector<Item>& items, bool background, bool conditional, size_t depth, Walk& w) {
    for (const Item& item : items)
        for (size_t k = 0; k < item.and_or.size(); ++k)
            for (const Command& c : item.and_or[k])
                collect_command(c, background || item.background, conditional || k > 0, depth, w);
}

// ---------------------------------------------------------------------------- matching

bool has_expansion(const std::string& word) {
    return word.find('$') != std::string::npos || word.find('`') != std::string::npos;
}

bool globbing(const std::string& raw) {
    return raw.find_first_of("*?[") != std::string::npos && raw.find_first_of("'\"") == std::string::npos;
}

// Whether a process's argv can be what `cmd` ran. A word the shell would expand matches any
// one argument; "$@" or "$*" alone matches any number; the program is compared by its name
// (a PATH lookup turns `node` into `/usr/bin/node`).
bool fits(const ScriptCommand& cmd, const std::vector<std::string_view>& argv) {
    const auto& words = cmd.program;
    if (words.empty() || argv.empty()) return false;
    if (basename_of(words[0]) != basename_of(argv[0]) && !has_expansion(words[0])) return false;
    size_t a = 1;
    for (size_t k = 1; k < words.size(); ++k) {
        const std::string& word = words[k];
        if (word == "$@" || word == "$*" || word == "${@}" || word == "${*}") return true;  // the rest, any
        if (a >= argv.size()) return false;
        if (!has_expansion(word) && !globbing(cmd.program_raw[k]) && word != argv[a]) return false;
        ++a;
    }
    return a == argv.size();
}

}  // namespace

size_t Script::bytes() const {
    size_t n = sizeof(Script);
    for (const auto& c : background) {
        n += sizeof(ScriptCommand) + c.text.capacity();
        for (const auto& w : c.program) n += sizeof(std::string) + w.capacity();
        for (const auto& w : c.program_raw) n += sizeof(std::string) + w.capacity();
    }
    return n;
}

Script parse_script(std::string_view text, bool truncated, bool posix) {
    Script script;
    script.truncated = truncated;
    Lexer lexer(text, posix);
    Parser parser(lexer);
    const std::vector<Item> items = parser.list({}, 0);
    Walk w{lexer, script};
    collect(items, false, false, 0, w);
    return script;
}

std::optional<size_t> match_exec(const Script& script, const Argv& argv) {
    // A process caught inside a wrapper (`nohup node server.js` before nohup execs node) is
    // matched by what the wrapper runs; a wrapper that is a script (#!) shows its interpreter
    // first.
    std::vector<std::string> words(argv.begin(), argv.end());
    bool daemonizes = false;
    if (words.size() > 1 && script_of(Argv{words[0], words[1]}) && program_start({words[1]}, daemonizes) == 1)
        words.erase(words.begin());
    const size_t start = program_start(words, daemonizes);
    const std::vector<std::string_view> args(words.begin() + (start < words.size() ? start : 0), words.end());
    std::optional<size_t> found;
    for (size_t i = 0; i < script.background.size(); ++i)
        if (fits(script.background[i], args)) {
            // Two lines that could have run it: no guess. The same line twice is one answer.
            if (found && script.background[*found].line != script.background[i].line) return std::nullopt;
            if (!found) found = i;
        }
    return found;
}

std::optional<size_t> match_fork(const Script& script, uint32_t index) {
    std::vector<size_t> forked;  // the `&` commands: what the script's shell forked
    for (size_t i = 0; i < script.background.size(); ++i)
        if (script.background[i].forked) forked.push_back(i);
    if (index == 0 || index > forked.size()) return std::nullopt;
    if (forked.size() == 1) return forked[0];
    // Straight-line up to it: each `&` command before it (and it) ran, in order.
    for (size_t k = 0; k < index; ++k)
        if (script.background[forked[k]].conditional) return std::nullopt;
    return forked[index - 1];
}

std::optional<ScriptSource> script_of(const Argv& argv) {
    std::vector<std::string_view> a(argv.begin(), argv.end());
    size_t i = 0;
    // `#!/usr/bin/env sh` becomes `env sh FILE`; env's own options and assignments are skipped.
    if (!a.empty() && basename_of(a[0]) == "env") {
        ++i;
        while (i < a.size() && (option(std::string(a[i])) || assignment(std::string(a[i])))) ++i;
    }
    if (i >= a.size()) return std::nullopt;
    std::string shell = basename_of(a[i]);
    if (shell == "busybox" && i + 1 < a.size()) shell = basename_of(a[++i]);
    static const std::array<std::string_view, 7> shells{"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh"};
    if (std::find(shells.begin(), shells.end(), shell) == shells.end()) return std::nullopt;
    const bool posix = shell == "sh" || shell == "dash" || shell == "ash";
    ++i;
    // Options before the script: -e -x -eu +x, `-o NAME`, bash's long options. -c makes the
    // first operand the script's text; -s reads it from stdin.
    bool command_string = false;
    for (; i < a.size(); ++i) {
        const std::string_view o = a[i];
        if (o == "--") {
            ++i;
            break;
        }
        if (o.size() < 2 || (o[0] != '-' && o[0] != '+')) break;
        if (o.substr(0, 2) == "--") continue;  // --posix, --noprofile, --norc, --login
        if (o == "-o" || o == "+o" || o == "-O" || o == "+O") {
            ++i;
            continue;
        }
        if (o[0] == '-' && o.find('c') != std::string_view::npos) command_string = true;
        if (o[0] == '-' && o.find('s') != std::string_view::npos) return std::nullopt;
    }
    if (i >= a.size()) return std::nullopt;  // reads stdin
    ScriptSource source;
    source.posix = posix;
    if (command_string)
        source.text = std::string(a[i]);
    else
        source.path = std::string(a[i]);
    return source;
}

std::string exec_suggestion(const ScriptCommand& command) {
    std::string out = "exec";
    for (const auto& w : command.program_raw) out += " " + w;
    return out;
}

namespace {

std::optional<SourceLine> source_of(const Launch& launch, const Script& script,
                                    const std::optional<std::string>& file) {
    const std::optional<size_t> index =
        launch.execed ? match_exec(script, launch.argv) : match_fork(script, launch.background_index);
    if (!index) return std::nullopt;
    const ScriptCommand& command = script.background[*index];
    return SourceLine{file, command.line, command.text, exec_suggestion(command)};
}

}  // namespace

void attach_sources(Finding& f, const Script& script, const std::optional<std::string>& file) {
    for (auto& p : f.live)
        if (p.launch) p.source = source_of(*p.launch, script, file);
    if (f.worker && f.worker->launch) f.worker->source = source_of(*f.worker->launch, script, file);
    f.diagnosis = diagnose(f);
}

}  // namespace initwatch::model
