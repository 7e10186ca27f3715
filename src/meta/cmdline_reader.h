// Reads /proc/PID/cmdline for processes the startup snapshot found, off the event loop.
// Such a read can hang: the kernel reads the process's argv pages, and a page backed by a
// dead FUSE or NFS mount blocks the reader until that mount answers. So reads run on a
// worker thread, each with a deadline; a worker past its deadline is abandoned (it ends
// whenever its read returns, and its result is dropped) and a new one goes on with the
// rest. After kMaxAbandoned abandoned workers, what is left is given up. What was not read
// in time stays "argv unknown".
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/argv.h"
#include "model/event.h"

namespace initwatch::meta {

class CmdlineReader {
public:
    struct Request {
        model::ProcKey key;
        pid_t pid = 0;
    };
    struct Result {
        model::ProcKey key;
        model::Argv argv;
        bool truncated = false;
        bool timed_out = false;  // not read in time: argv unknown
    };

    static constexpr size_t kMaxAbandoned = 4;
    // Results waiting to be taken: the worker pauses beyond this many bytes of argv.
    static constexpr size_t kMaxQueuedBytes = size_t{1} << 20;

    CmdlineReader(size_t max_bytes, std::chrono::milliseconds deadline, std::string proc_root = "/proc");
    // Never waits for a worker: one may be stuck in a read.
    ~CmdlineReader();
    CmdlineReader(const CmdlineReader&) = delete;
    CmdlineReader& operator=(const CmdlineReader&) = delete;

    void submit(std::vector<Request> requests);
    // Appends what was read since the last call, and the requests given up (timed_out);
    // never blocks. Checks the deadline of the read in progress.
    void take(std::vector<Result>& out);
    // Nothing left to read or to take.
    bool idle() const;
    uint64_t timed_out() const;

private:
    struct State;
    void start_worker();  // with State's mutex held
    static void work(std::shared_ptr<State> state, uint64_t generation);

    std::shared_ptr<State> state_;
};

}  // namespace initwatch::meta
