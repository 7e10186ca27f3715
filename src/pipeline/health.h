// What /healthz and /readyz answer: written by the pipeline's thread, read by the HTTP one.
#pragma once

#include <atomic>
#include <cstdint>

namespace initwatch::pipeline {

class Health {
public:
    // Longer than this without draining the ring buffer means the collector is stuck.
    static constexpr uint64_t kMaxDrainAgeNs = 5'000'000'000ULL;

    void set_attached() { attached_.store(true, std::memory_order_relaxed); }
    void set_drained(uint64_t monotonic_ns) { last_drain_ns_.store(monotonic_ns, std::memory_order_relaxed); }
    void set_snapshot_done() { snapshot_done_.store(true, std::memory_order_relaxed); }

    bool attached() const { return attached_.load(std::memory_order_relaxed); }
    uint64_t last_drain_ns() const { return last_drain_ns_.load(std::memory_order_relaxed); }

    // Probes attached and the ring buffer drained within kMaxDrainAgeNs of now.
    bool healthz(uint64_t now_ns) const {
        const uint64_t last = last_drain_ns();
        if (!attached() || last == 0) return false;
        // A drain stored after the caller read its clock is fresh, not 584 years old.
        return now_ns <= last || now_ns - last <= kMaxDrainAgeNs;
    }
    // The startup snapshot is in the model: findings from now on know pre-existing processes.
    bool readyz() const { return snapshot_done_.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> attached_{false};
    std::atomic<uint64_t> last_drain_ns_{0};
    std::atomic<bool> snapshot_done_{false};
};

}  // namespace initwatch::pipeline
