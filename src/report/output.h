// Where findings, per-event lines and lost-event notices go: text for people, JSON lines
// for machines. Reporters only format; the model decides what to report.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meta/container.h"
#include "model/event.h"
#include "model/finding.h"
#include "report/clock.h"

namespace initwatch::report {

using LostCounts = std::vector<std::pair<std::string, uint64_t>>;

class Output {
public:
    // No line is longer: a finding lists fewer processes in full (the rest are counted)
    // rather than pass it. Text lines are far shorter (argv is at most 4 KiB).
    static constexpr size_t kMaxLineBytes = size_t{1} << 20;

    explicit Output(std::FILE* out) : out_(out) {}
    virtual ~Output() = default;
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;

    virtual void finding(const model::Finding& f, const meta::FindingContext& context) = 0;
    // `known` is what the tracker knew of the process before this event (may be null).
    virtual void event(const model::Event& e, const model::ProcessSummary* known) = 0;
    // Events the kernel dropped since the last notice, by reason.
    virtual void lost(uint64_t ts_ns, const LostCounts& counts) = 0;

    void flush();
    // A write failed (e.g. the reader of a pipe went away): the caller should stop.
    bool broken() const { return broken_; }

protected:
    void write_line(const std::string& line);
    void write_raw(std::string_view bytes);  // part of a line, its newline included at the end
    const WallClock& clock() const { return clock_; }

private:
    std::FILE* out_;
    WallClock clock_;
    bool broken_ = false;
};

std::unique_ptr<Output> make_text_output(std::FILE* out, bool color);
std::unique_ptr<Output> make_json_output(std::FILE* out);

}  // namespace initwatch::report
