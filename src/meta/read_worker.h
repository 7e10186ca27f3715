// Reads that can hang, off the event loop. Reading a process's argv (/proc/PID/cmdline reads
// its argv pages) or a file in a container's root blocks for as long as a dead FUSE or NFS
// mount behind it does not answer. So reads run on a worker thread, each with a deadline; a
// worker past its deadline is abandoned (it ends whenever its read returns, and its result
// is dropped) and a new one goes on with the rest. After kMaxAbandoned abandoned workers,
// what is left, and what comes later, is given up at once. Bounded: at most max_pending jobs
// wait (later ones are given up), and the worker pauses while max_queued_bytes of results
// wait to be taken.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/event.h"
#include "util/file.h"

namespace initwatch::meta {

class ReadWorker {
public:
    using Read = std::function<util::FileRead()>;
    struct Job {
        model::ProcKey key;  // whose read it is
        Read read;
    };
    struct Result {
        model::ProcKey key;
        util::FileRead read;
        bool timed_out = false;  // not read: past its deadline, or given up
    };

    static constexpr size_t kMaxAbandoned = 4;

    explicit ReadWorker(std::chrono::milliseconds deadline, size_t max_pending = 65536,
                        size_t max_queued_bytes = size_t{1} << 20);
    // Never waits for a worker: one may be stuck in a read.
    ~ReadWorker();
    ReadWorker(const ReadWorker&) = delete;
    ReadWorker& operator=(const ReadWorker&) = delete;

    void submit(std::vector<Job> jobs);
    // Appends what was read since the last call, and the jobs given up (timed_out); never
    // blocks. Checks the deadline of the read in progress.
    void take(std::vector<Result>& out);
    // Nothing left to read or to take.
    bool idle() const;
    // Jobs not read: past their deadline, or given up.
    uint64_t timed_out() const;

private:
    struct State;
    void start_worker();  // with State's mutex held
    static void work(std::shared_ptr<State> state, uint64_t generation);

    std::shared_ptr<State> state_;
};

}  // namespace initwatch::meta
