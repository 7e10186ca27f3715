#include "model/redactor.h"

#include <initwatch/error.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <variant>

namespace initwatch::model {

namespace {

// A pattern in an error message stays on its one line, whatever bytes it holds.
std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

// Where the character class opening at p[i] ends (its `]`). RE2 has checked the syntax.
size_t class_end(std::string_view p, size_t i) {
    size_t j = i + 1;
    if (j < p.size() && p[j] == '^') ++j;
    if (j < p.size() && p[j] == ']') ++j;  // a first `]` is a literal one
    while (j < p.size() && p[j] != ']') {
        if (p[j] == '\\') {
            j += 2;
        } else if (p.compare(j, 2, "[:") == 0) {
            const size_t close = p.find(":]", j + 2);
            j = close == std::string_view::npos ? p.size() : close + 2;
        } else {
            ++j;
        }
    }
    return j;
}

// Where the quantifier at p[i] ends when it may repeat its operand (`*`, `+`, `{2}`, `{1,}`,
// each maybe lazy), else 0 (`?`, `{1}`, a literal `{`, no quantifier).
size_t repetition_end(std::string_view p, size_t i) {
    size_t end = 0;
    if (p[i] == '*' || p[i] == '+') {
        end = i + 1;
    } else if (p[i] == '{') {
        const size_t close = p.find('}', i);
        if (close == std::string_view::npos) return 0;
        const std::string_view body = p.substr(i + 1, close - i - 1);
        const auto number = [](std::string_view s) {  // RE2 allows counts up to 1000
            return !s.empty() && s.size() <= 4 && s.find_first_not_of("0123456789") == std::string_view::npos;
        };
        const size_t comma = body.find(',');
        const std::string_view min = body.substr(0, comma);
        if (!number(min)) return 0;
        const std::string_view max = comma == std::string_view::npos ? min : body.substr(comma + 1);
        if (!max.empty() && !(number(max) && std::stoul(std::string(max)) > 1)) return 0;
        end = close + 1;
    } else {
        return 0;
    }
    return end < p.size() && p[end] == '?' ? end + 1 : end;
}

// RE2, as Perl, reports the span of a repeated group's last repetition only: `(\w)+` on
// `secret` captures `t`. So each repetition of a group holding a capture, outside every
// other capturing group, gets a group of its own, which spans every repetition
// (`(\w)+` -> `((\w)+)`). The pattern has passed RE2's syntax check.
std::string cover_repeated_groups(std::string_view p) {
    struct Open {
        size_t at;
        bool captures;       // this group
        bool holds_capture;  // this group or one inside it
    };
    std::vector<Open> open;
    std::vector<size_t> opens, closes;          // where the new groups begin and end
    size_t closed_at = std::string_view::npos;  // the `(` of the group just closed, if it holds a capture
    for (size_t i = 0; i < p.size(); ++i) {
        size_t closing = std::string_view::npos;
        if (p[i] == '\\') {
            if (p.compare(i, 2, "\\Q") == 0) {
                const size_t end = p.find("\\E", i + 2);
                i = end == std::string_view::npos ? p.size() : end + 1;
            } else {
                ++i;
            }
        } else if (p[i] == '[') {
            i = class_end(p, i);
        } else if (p[i] == '(') {
            const bool captures =
                p.compare(i, 2, "(?") != 0 || p.compare(i, 4, "(?P<") == 0 ||
                (p.compare(i, 3, "(?<") == 0 && p.compare(i, 4, "(?<=") != 0 && p.compare(i, 4, "(?<!") != 0);
            open.push_back({i, captures, captures});
        } else if (p[i] == ')' && !open.empty()) {
            const Open group = open.back();
            open.pop_back();
            if (group.holds_capture) {
                closing = group.at;
                if (!open.empty()) open.back().holds_capture = true;
            }
        } else if (closed_at != std::string_view::npos) {
            bool enclosed = false;
            for (const auto& o : open) enclosed = enclosed || o.captures;
            if (const size_t end = repetition_end(p, i); end && !enclosed) {
                opens.push_back(closed_at);
                closes.push_back(end);
            }
        }
        closed_at = closing;
    }
    if (opens.empty()) return std::string(p);
    std::string out;
    for (size_t i = 0; i <= p.size(); ++i) {
        for (size_t c : closes) out += c == i ? ")" : "";
        for (size_t o : opens) out += o == i ? "(" : "";
        if (i < p.size()) out += p[i];
    }
    return out;
}

// pattern as given is what errors name.
std::unique_ptr<re2::RE2> compile(const std::string& pattern, const std::string& given, const char* option) {
    const auto fail = [&](const std::string& why) {
        return Error(std::string(option) + " '" + printable(given) + "' " + why);
    };
    if (given.size() > Redactor::kMaxPatternBytes)
        throw fail("is longer than " + std::to_string(Redactor::kMaxPatternBytes) + " bytes");
    re2::RE2::Options opt;
    // Bytes, not UTF-8: argv need not be UTF-8, and a byte no class matches would end a
    // match early and leave the rest of a secret readable.
    opt.set_encoding(re2::RE2::Options::EncodingLatin1);
    opt.set_dot_nl(true);  // an argument's newline ends no secret
    opt.set_max_mem(Redactor::kMaxMemPerPattern);
    opt.set_log_errors(false);  // the error is ours to report, on one line
    auto re = std::make_unique<re2::RE2>(pattern, opt);
    if (!re->ok()) throw fail("is not a valid regular expression (RE2 syntax): " + printable(re->error()));
    return re;
}

void mark_span(std::vector<bool>& masked, size_t size, size_t from, size_t to) {
    if (from >= to) return;
    if (masked.empty()) masked.resize(size);
    for (size_t i = from; i < to; ++i) masked[i] = true;
}

// text with each maximal run of masked bytes replaced by one mask.
std::string masked_copy(std::string_view text, const std::vector<bool>& masked) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (!masked[i]) {
            out += text[i];
        } else if (i == 0 || !masked[i - 1]) {
            out += Redactor::kMask;
        }
    }
    return out;
}

}  // namespace

struct Redactor::Sets {
    std::unique_ptr<re2::RE2::Set> mask;        // unanchored: which patterns occur in a text
    std::unique_ptr<re2::RE2::Set> next_after;  // anchored at both ends: which match it in full
};

namespace {

// The patterns as one set; nullptr for none. RE2 has compiled each alone already.
std::unique_ptr<re2::RE2::Set> compile_set(const std::vector<std::unique_ptr<re2::RE2>>& patterns,
                                           re2::RE2::Anchor anchor) {
    if (patterns.empty()) return nullptr;
    re2::RE2::Options opt = patterns.front()->options();
    opt.set_max_mem(Redactor::kMaxMemPerPattern * static_cast<int64_t>(patterns.size()));
    auto set = std::make_unique<re2::RE2::Set>(opt, anchor);
    for (const auto& re : patterns)
        if (set->Add(re->pattern(), nullptr) < 0) return nullptr;
    return set->Compile() ? std::move(set) : nullptr;
}

// Which of the set's patterns match text; false when the set could not tell (its DFA out of
// memory): then every pattern is tried, as without the set.
bool set_match(const re2::RE2::Set& set, std::string_view text, std::vector<int>& hits) {
    hits.clear();
    re2::RE2::Set::ErrorInfo error{};
    if (set.Match(re2::StringPiece(text.data(), text.size()), &hits, &error)) return true;
    return error.kind == re2::RE2::Set::kNoError;  // no match
}

}  // namespace

Redactor::Redactor(const std::vector<std::string>& mask, const std::vector<std::string>& next_after) {
    if (mask.size() + next_after.size() > kMaxPatterns)
        throw Error("--redact and --redact-next-after: at most " + std::to_string(kMaxPatterns) +
                    " patterns");
    for (const auto& p : mask) {
        auto re = compile(p, p, "--redact");
        // It would match between every two bytes, each a search, and mask none of them.
        if (re2::RE2::FullMatch("", *re))
            throw Error("--redact '" + printable(p) + "' matches the empty string");
        const std::string covered = cover_repeated_groups(p);
        mask_.push_back(covered == p ? std::move(re) : compile(covered, p, "--redact"));
    }
    for (const auto& p : next_after) next_after_.push_back(compile(p, p, "--redact-next-after"));
    for (const auto& re : next_after_) empty_flags_next_ = empty_flags_next_ || re2::RE2::FullMatch("", *re);
    sets_ = std::make_unique<Sets>();
    sets_->mask = compile_set(mask_, re2::RE2::UNANCHORED);
    sets_->next_after = compile_set(next_after_, re2::RE2::ANCHOR_BOTH);
}

Redactor::~Redactor() = default;
Redactor::Redactor(Redactor&&) noexcept = default;
Redactor& Redactor::operator=(Redactor&&) noexcept = default;

void Redactor::mark(std::string_view text, std::vector<bool>& masked) const {
    // No pattern matches the empty string (the constructor refuses those), so none matches
    // in an empty text: a match there would be the whole of it.
    if (text.empty() || mask_.empty()) return;
    std::vector<int> hits;
    const bool told = sets_ && sets_->mask && set_match(*sets_->mask, text, hits);
    if (told && hits.empty()) return;
    const re2::StringPiece piece(text.data(), text.size());
    std::vector<re2::StringPiece> groups;
    for (size_t i = 0; i < mask_.size(); ++i) {
        if (told && std::find(hits.begin(), hits.end(), static_cast<int>(i)) == hits.end()) continue;
        const auto& re = mask_[i];
        const int count = re->NumberOfCapturingGroups();
        groups.resize(static_cast<size_t>(count) + 1);
        size_t pos = 0;
        for (size_t matches = 0; pos <= text.size(); ++matches) {
            if (!re->Match(piece, pos, text.size(), re2::RE2::UNANCHORED, groups.data(), count + 1)) break;
            const size_t start = static_cast<size_t>(groups[0].data() - text.data());
            const size_t end = start + groups[0].size();
            if (matches == kMaxMatchesPerArgument) {
                // Fail closed: the rest may hold a secret.
                mark_span(masked, text.size(), start, text.size());
                break;
            }
            if (count == 0) mark_span(masked, text.size(), start, end);
            for (int g = 1; g <= count; ++g) {
                if (groups[g].data() == nullptr) continue;  // a group the match did not take
                const size_t from = static_cast<size_t>(groups[g].data() - text.data());
                mark_span(masked, text.size(), from, from + groups[g].size());
            }
            pos = end > start ? end : end + 1;  // after an empty match (`\b`), one byte on
        }
    }
}

std::string Redactor::redact(std::string_view text) const {
    std::vector<bool> masked;
    mark(text, masked);
    return masked.empty() ? std::string(text) : masked_copy(text, masked);
}

bool Redactor::flags_next(std::string_view arg) const {
    if (arg.empty()) return empty_flags_next_;
    std::vector<int> hits;
    if (sets_ && sets_->next_after && set_match(*sets_->next_after, arg, hits)) return !hits.empty();
    const re2::StringPiece piece(arg.data(), arg.size());
    for (const auto& re : next_after_)
        if (re2::RE2::FullMatch(piece, *re)) return true;
    return false;
}

template <typename Args>
bool Redactor::redact_args(const Args& argv, std::vector<std::string>& out) const {
    bool changed = false;
    bool after_flag = false;
    size_t index = 0;
    std::vector<bool> masked;
    for (std::string_view arg : argv) {
        masked.clear();
        // The argument after a flag is masked whole; an empty one has nothing to hide.
        if (after_flag && !arg.empty())
            masked.assign(arg.size(), true);
        else
            mark(arg, masked);
        after_flag = !next_after_.empty() && flags_next(arg);
        if (!masked.empty() && !changed) {
            changed = true;
            auto it = argv.begin();
            for (size_t i = 0; i < index; ++i, ++it) out.emplace_back(*it);
        }
        if (changed) out.push_back(masked.empty() ? std::string(arg) : masked_copy(arg, masked));
        ++index;
    }
    return changed;
}

void Redactor::apply(std::vector<std::string>& argv) const {
    std::vector<std::string> out;
    if (redact_args(argv, out)) argv = std::move(out);
}

void Redactor::apply(Argv& argv) const {
    if (empty() || argv.empty()) return;
    std::vector<std::string> out;
    if (redact_args(argv, out)) argv = Argv(out);
}

void Redactor::apply(TaskInfo& task) const {
    if (!mask_.empty()) task.comm = redact(task.comm);
}

void Redactor::apply(SnapshotEvent& snap) const {
    apply(snap.task);
    apply(snap.argv);
}

void Redactor::apply(Event& event) const {
    std::visit([this](auto& e) { apply(e.task); }, event);
    if (auto* exec = std::get_if<ExecEvent>(&event)) {
        exec->filename = redact(exec->filename);
        apply(exec->argv);
    } else if (auto* snap = std::get_if<SnapshotEvent>(&event)) {
        apply(snap->argv);
    } else if (auto* sig = std::get_if<SignalEvent>(&event)) {
        apply(sig->sender);
    }
}

}  // namespace initwatch::model
