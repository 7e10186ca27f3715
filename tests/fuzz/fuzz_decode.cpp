// libFuzzer target: a stream of kernel records through the whole user-space pipeline, the
// way a session drives it: decode, per-event output, the tracker, findings in both outputs.
//
// Input: records, each a 16-bit little-endian length followed by that many bytes (the last
// one cut short at the end of the input). Two lengths are not records:
//   0  housekeeping: the tracker expires namespaces dead for longer than their grace period
//   1  events were lost (the byte is the count): a `lost` notice, the tracker marks everything
//      incomplete
// Every JSON line must parse back; the text must be safe on a terminal.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "checks.h"
#include "meta/container_id.h"
#include "meta/repeat_counter.h"
#include "model/tracker.h"
#include "probe/decode.h"
#include "report/output.h"

using namespace initwatch;
using fuzz::require;

namespace {

// A FILE* writing into a fixed buffer, reused from one input to the next: a runaway output
// fails its writes (the Output is then broken) instead of exhausting memory.
class MemoryFile {
public:
    static constexpr size_t kCapacity = 64 << 20;

    explicit MemoryFile(std::vector<char>& buffer) : buffer_(buffer) {
        buffer_.resize(kCapacity);
        file_ = fmemopen(buffer_.data(), buffer_.size(), "w");
        if (!file_) std::abort();
    }
    ~MemoryFile() {
        if (file_) std::fclose(file_);
    }
    MemoryFile(const MemoryFile&) = delete;
    MemoryFile& operator=(const MemoryFile&) = delete;

    std::FILE* file() { return file_; }
    std::string_view close() {
        std::fflush(file_);
        const long size = std::ftell(file_);
        std::fclose(file_);
        file_ = nullptr;
        return {buffer_.data(), size > 0 ? static_cast<size_t>(size) : 0};
    }

private:
    std::vector<char>& buffer_;
    std::FILE* file_;
};

void check_json_lines(std::string_view out) {
    require(out.empty() || out.back() == '\n', "JSON output does not end with a newline", out);
    while (!out.empty()) {
        const size_t end = out.find('\n');
        const std::string_view line = out.substr(0, end);
        out.remove_prefix(end + 1);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            fuzz::fail(std::string("a JSON line does not parse back: ") + e.what(), line);
        }
        require(j.is_object() && j.contains("type") && j["type"].is_string(), "a JSON line without a type",
                line);
    }
}

// What a session adds to a finding, from fuzzed text: cgroup names below a delegated cgroup
// and pod names are as untrusted as comm, so init's comm stands in for them.
meta::FindingContext context_of(const model::Finding& f, meta::RepeatCounter& restarts) {
    meta::FindingContext context;
    meta::ContainerInfo& c = context.container;
    c.cgroup_id = f.cgroup_id;
    context.node = f.init.comm;
    if (f.cgroup_id % 2 == 0) return context;
    c.cgroup_path = "/" + f.init.comm;
    if (const auto ref = meta::parse_cgroup_path(*c.cgroup_path)) {
        c.id = ref->id;
        c.runtime = ref->runtime;
    } else {
        c.id = f.init.comm;
        c.runtime = "containerd";
    }
    if (f.cgroup_id % 3 == 0) c.pod = meta::PodRef{f.init.comm, f.init.comm, std::nullopt};
    if (f.cgroup_id % 5 == 0) c.name = f.init.comm;
    const auto repeat = restarts.record(*c.runtime + ":" + *c.id, f.ts_ns);
    context.repeat = meta::RepeatInfo{repeat.count, repeat.since_first_ns, meta::describe_repeat(repeat)};
    return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::vector<char> json_buffer, text_buffer;
    MemoryFile json_file(json_buffer), text_file(text_buffer);
    const auto json = report::make_json_output(json_file.file());
    const auto text = report::make_text_output(text_file.file(), false);
    model::TrackerLimits limits;
    limits.max_processes = 32;     // small enough for an input to fill it
    limits.worker_min_age_ns = 0;  // every end of init's child is judged a worker's
    model::Tracker tracker(limits);
    meta::RepeatCounter restarts;
    uint64_t latest_ns = 0;

    for (size_t pos = 0; size - pos >= 2;) {
        const size_t len = std::min<size_t>(data[pos] | data[pos + 1] << 8, size - pos - 2);
        // A copy of exactly the record's size: ASan catches any read past its end.
        const std::vector<uint8_t> record(data + pos + 2, data + pos + 2 + len);
        pos += 2 + len;

        if (len == 0) {
            tracker.expire(latest_ns + limits.dead_namespace_grace_ns + 1);
            continue;
        }
        if (len == 1) {
            const report::LostCounts counts{{"ringbuf_full", record[0]}};
            json->lost(latest_ns, counts);
            text->lost(latest_ns, counts);
            tracker.mark_incomplete();
            continue;
        }
        const auto event = probe::decode_record(record.data(), record.size());
        if (!event) continue;
        latest_ns = std::max(latest_ns, model::time_of(*event));
        const model::ProcessSummary* known = tracker.summary(model::task_of(*event).key);
        json->event(*event, known);
        text->event(*event, known);
        std::vector<model::Finding> findings;
        if (auto finding = tracker.apply(*event)) findings.push_back(std::move(*finding));
        tracker.take_due(latest_ns, findings);  // worker_exit findings
        for (const auto& finding : findings) {
            const meta::FindingContext context = context_of(finding, restarts);
            json->finding(finding, context);
            text->finding(finding, context);
        }
    }
    std::vector<model::Finding> held;
    tracker.take_due(UINT64_MAX, held);
    for (const auto& finding : held) json->finding(finding, context_of(finding, restarts));
    const auto stats = tracker.stats();
    require(stats.processes <= limits.max_processes, "the tracker outgrew its process limit");

    json->flush();
    text->flush();
    require(!json->broken() && !text->broken(), "the output of one input outgrew 64 MiB");
    check_json_lines(json_file.close());
    fuzz::require_terminal_safe(text_file.close(), true);
    return 0;
}
