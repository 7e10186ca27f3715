// Who sent the fatal signals still on their way: a signal record (signal_generate) names
// the sender of a fatal signal to a watched process; the OOM killer's record (mark_victim)
// turns a kernel SIGKILL into an OOM kill. Kept until the target's exit, when the finding
// takes it; bounded (kMaxEntries), a full log refuses new entries (counted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "model/event.h"
#include "model/finding.h"

namespace initwatch::model {

class ProcessTable;

class KillerLog {
public:
    static constexpr size_t kMaxEntries = 4096;

    explicit KillerLog(const ProcessTable& table) : table_(table) {}

    void signal(const SignalEvent& ev);
    // The sender of `ev` as the table knows it (its argv when tracked).
    KilledBy sender_of(const SignalEvent& ev) const;
    void oom(const OomEvent& ev);
    // Who sent `signal` to `key` (the last such signal), or unset: never a guess.
    std::optional<KilledBy> killer_of(const ProcKey& key, int signal) const;
    // `key` exited: its entry is done with.
    void forget(const ProcKey& key) { log_.erase(key); }

    size_t size() const { return log_.size(); }
    uint64_t refused() const { return refused_; }

private:
    const ProcessTable& table_;
    std::unordered_map<ProcKey, KilledBy, ProcKeyHash> log_;
    uint64_t refused_ = 0;
};

}  // namespace initwatch::model
