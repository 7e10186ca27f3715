// Masks secrets in command lines and process names (--redact, --redact-next-after) before
// anything else sees them. RE2, not a backtracking engine: container-controlled argv is
// matched on the only event thread, so no argument may make a search slow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/event.h"

namespace re2 {
class RE2;
}

namespace initwatch::model {

class Redactor {
public:
    // Parse-time limits, which bound the work and memory of every record.
    static constexpr size_t kMaxPatterns = 16;  // both options together
    static constexpr size_t kMaxPatternBytes = 512;
    static constexpr int64_t kMaxMemPerPattern = int64_t{1} << 20;  // RE2 max_mem: programs and DFA caches
    // Matches of one pattern in one argument. Finding each can take a pass over the rest of
    // the argument (all of them: quadratic); from the next one on, the rest is masked instead.
    static constexpr size_t kMaxMatchesPerArgument = 32;
    static constexpr const char* kMask = "***";

    // RE2 syntax on bytes (Latin-1: `.` matches any byte, a newline too; `\S` any byte but
    // ASCII white space). mask (--redact): in every argument, the comm and the exec filename, each
    // match is masked: the union of its capture groups' spans if it has groups, else all of
    // it; a repeated group (`(\w)+`) masks all of its repetitions.
    // next_after (--redact-next-after): an argument matching one of them in full makes the
    // following argument masked whole.
    // Throws initwatch::Error naming the option and the pattern for one RE2 rejects, one
    // that matches the empty string (mask), or one past the limits above.
    explicit Redactor(const std::vector<std::string>& mask, const std::vector<std::string>& next_after = {});
    ~Redactor();
    Redactor(Redactor&&) noexcept;
    Redactor& operator=(Redactor&&) noexcept;

    bool empty() const { return mask_.empty() && next_after_.empty(); }

    // One string (a comm, a filename): each maximal masked span becomes one kMask.
    std::string redact(std::string_view text) const;
    void apply(std::vector<std::string>& argv) const;
    void apply(Argv& argv) const;  // a redacted copy replaces a shared argv; unchanged, it stays shared
    void apply(SnapshotEvent& snap) const;
    void apply(Event& event) const;  // comm of every event, exec filename and argv, snapshot argv

private:
    // Marks in masked (sized on the first match) the bytes of text the mask patterns cover.
    void mark(std::string_view text, std::vector<bool>& masked) const;
    bool flags_next(std::string_view arg) const;
    // Fills out with argv redacted and returns true, or returns false when nothing changes.
    template <typename Args>
    bool redact_args(const Args& argv, std::vector<std::string>& out) const;
    void apply(TaskInfo& task) const;

    std::vector<std::unique_ptr<re2::RE2>> mask_;
    std::vector<std::unique_ptr<re2::RE2>> next_after_;
    // One pass over an argument tells which patterns match it (most: none), so that an exec
    // costs a pass per argument, not one per argument and pattern.
    struct Sets;
    std::unique_ptr<Sets> sets_;
    bool empty_flags_next_ = false;  // an empty argument matches a --redact-next-after pattern
};

}  // namespace initwatch::model
