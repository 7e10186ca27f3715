// The output sinks: findings, per-event lines (--events) and lost-event notices as text for
// people or JSON lines for machines, on stdout or a file. They only format; the model
// decides what to report, the pipeline when.
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
#include "pipeline/sink.h"
#include "report/clock.h"

namespace initwatch::report {

using pipeline::LostCounts;

class Output : public pipeline::Sink {
public:
    // No line is longer: a finding lists fewer processes in full (the rest are counted)
    // rather than pass it. Text lines are far shorter (argv is at most 4 KiB).
    static constexpr size_t kMaxLineBytes = size_t{1} << 20;
    // The "schema" field of every JSON line. It changes only when a field is removed or
    // renamed, or its type or meaning changes; added fields, line types and values do not
    // change it (docs/output.md, "Versions").
    static constexpr int kJsonSchema = 1;

    // `name`: what a failed write names ("stdout", the --output path).
    Output(std::FILE* out, std::string name) : out_(out), name_(std::move(name)) {}
    ~Output() override;
    Output(const Output&) = delete;
    Output& operator=(const Output&) = delete;

    // A line per event as well (--events).
    void print_events(bool on) { events_ = on; }
    // The output closes its file when it is destroyed.
    void close_on_destroy() { owns_file_ = true; }

    bool wants_events() const override { return events_; }
    void flush() override;
    // A write failed (e.g. the reader of a pipe went away): the command should stop.
    std::optional<std::string> broken() const override;

protected:
    void write_line(const std::string& line);
    void write_raw(std::string_view bytes);  // part of a line, its newline included at the end
    const WallClock& clock() const { return clock_; }

private:
    void failed();

    std::FILE* out_;
    std::string name_;
    WallClock clock_;
    bool broken_ = false;
    int errno_ = 0;  // of the failed write
    bool events_ = false;
    bool owns_file_ = false;
};

std::unique_ptr<Output> make_text_output(std::FILE* out, bool color, std::string name = "stdout");
std::unique_ptr<Output> make_json_output(std::FILE* out, std::string name = "stdout");

}  // namespace initwatch::report
