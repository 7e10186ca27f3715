// What one container may put into the outputs. A pod that makes hundreds of pid namespaces a
// minute, each init leaving dozens of processes, would otherwise write megabytes a second into
// the node's log pipeline and drown every other pod's findings. Each container (the kernel's
// view of it: Finding::origin, which cgroup names cannot forge) has a budget of findings and
// of bytes, refilled over time; a finding over it is not written but counted, and the
// container's suppressed findings are summed up in one line (at the latest a minute after the
// first, or when it is within its budget again). Metrics and `run`'s verdict see every finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "meta/container.h"
#include "model/finding.h"

namespace initwatch::pipeline {

struct OutputBudgetLimits {
    double burst_findings = 10;            // findings a container may write at once
    double findings_per_second = 1.0 / 6;  // then 10 a minute
    double burst_bytes = 1 << 20;          // bytes (approximate_output_bytes) at once
    double bytes_per_second = 16 << 10;    // then 16 KiB/s, about 1 GiB a day
    uint64_t summary_after_ns =
        60'000'000'000ULL;         // a container's suppressed findings summed up at least this often
    size_t max_containers = 4096;  // budgets kept (least recently used go; a new one is full)
};

class OutputBudget {
public:
    struct Summary {
        meta::FindingContext context;  // of its last suppressed finding
        uint64_t suppressed = 0;
        uint64_t first_ns = 0, last_ns = 0;
    };

    explicit OutputBudget(OutputBudgetLimits limits = {}) : limits_(limits) {}

    // Charges the finding to its container's budget; false when over it (counted, to be summed
    // up). Summaries now due are appended to `due`.
    bool admit(const model::Finding& f, const meta::FindingContext& context, uint64_t now_ns,
               std::vector<Summary>& due);
    // Summaries due by now (a minute after a container's first suppressed finding); all of
    // them with UINT64_MAX.
    void take_due(uint64_t now_ns, std::vector<Summary>& due);
    uint64_t suppressed() const { return suppressed_; }

private:
    struct Key {
        model::ProcKey origin;
        uint64_t cgroup_id = 0;
        bool operator==(const Key& o) const { return origin == o.origin && cgroup_id == o.cgroup_id; }
    };
    struct KeyHash {
        size_t operator()(const Key& k) const noexcept {
            return model::ProcKeyHash{}(k.origin) ^ (k.cgroup_id * 0x9e3779b97f4a7c15ULL);
        }
    };
    struct Bucket {
        double findings = 0, bytes = 0;
        uint64_t refilled_ns = 0;
        Summary pending;  // suppressed since the last summary
        std::list<Key>::iterator lru;
    };

    OutputBudgetLimits limits_;
    std::unordered_map<Key, Bucket, KeyHash> buckets_;
    std::list<Key> lru_;
    uint64_t suppressed_ = 0;
};

}  // namespace initwatch::pipeline
