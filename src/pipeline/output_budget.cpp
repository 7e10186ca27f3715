#include "pipeline/output_budget.h"

#include <algorithm>

namespace initwatch::pipeline {

bool OutputBudget::admit(const model::Finding& f, const meta::FindingContext& context, uint64_t now_ns,
                         std::vector<Summary>& due) {
    const Key key{f.origin.value_or(model::ProcKey{}), f.origin ? 0 : f.cgroup_id};
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
        if (buckets_.size() >= limits_.max_containers) {  // the least recently used goes, summed up
            auto oldest = buckets_.find(lru_.front());
            if (oldest->second.pending.suppressed) due.push_back(std::move(oldest->second.pending));
            buckets_.erase(oldest);
            lru_.pop_front();
        }
        Bucket b;
        b.findings = limits_.burst_findings;
        b.bytes = limits_.burst_bytes;
        b.refilled_ns = now_ns;
        b.lru = lru_.insert(lru_.end(), key);
        it = buckets_.emplace(key, std::move(b)).first;
    } else {
        lru_.splice(lru_.end(), lru_, it->second.lru);
    }
    Bucket& b = it->second;
    const double seconds = now_ns > b.refilled_ns ? static_cast<double>(now_ns - b.refilled_ns) / 1e9 : 0;
    b.refilled_ns = now_ns;
    b.findings = std::min(limits_.burst_findings, b.findings + seconds * limits_.findings_per_second);
    b.bytes = std::min(limits_.burst_bytes, b.bytes + seconds * limits_.bytes_per_second);

    // A line is never longer than the burst (JSON lines stop at 1 MiB: what does not fit is
    // counted, not listed), so a container's first finding always passes, however large.
    const double bytes =
        std::min(static_cast<double>(model::approximate_output_bytes(f)), limits_.burst_bytes);
    if (b.findings >= 1 && b.bytes >= bytes) {
        b.findings -= 1;
        b.bytes -= bytes;
        if (b.pending.suppressed) {  // within its budget again: what it missed is said first
            due.push_back(std::move(b.pending));
            b.pending = {};
        }
        return true;
    }
    ++suppressed_;
    Summary& s = b.pending;
    if (!s.suppressed) s.first_ns = now_ns;
    ++s.suppressed;
    s.last_ns = now_ns;
    s.context = context;
    return false;
}

void OutputBudget::take_due(uint64_t now_ns, std::vector<Summary>& due) {
    for (auto& [key, b] : buckets_)
        if (b.pending.suppressed &&
            (now_ns == UINT64_MAX || now_ns - b.pending.first_ns >= limits_.summary_after_ns)) {
            due.push_back(std::move(b.pending));
            b.pending = {};
        }
}

}  // namespace initwatch::pipeline
