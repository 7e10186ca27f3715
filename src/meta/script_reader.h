// The entrypoint scripts of containers, read while their process lives, so that a finding
// can point at the line that started what it lists (model::attach_sources).
//
// At the exec of a namespace's init (or of the entrypoint behind an init shim) that runs a
// shell script, the script is read from the container's own root: /proc/PID/root and
// /proc/PID/cwd are opened at once (they outlive the process), the file is read off the
// event loop (ReadWorker: a dead FUSE mount cannot stall it) with the image's symlinks
// resolved inside the container, a regular file only, at most kMaxScriptBytes. `sh -c TEXT`
// needs no read. What is kept is the parsed script (its background commands), bounded in
// bytes, until a while after its process exited.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "meta/read_worker.h"
#include "model/finding.h"
#include "model/script.h"

namespace initwatch::meta {

class ScriptReader {
public:
    static constexpr size_t kMaxScriptBytes = 64 * 1024;
    static constexpr size_t kMaxScripts = 4096;
    // Kept this long after its process exited: the finding it serves comes right after.
    static constexpr uint64_t kKeepNs = 30'000'000'000ULL;

    // `max_bytes`: what every script kept may take, parsed (a share of --max-memory).
    explicit ScriptReader(size_t max_bytes, std::string proc_root = "/proc");

    // A process that may run an entrypoint script exec'd `argv` (already redacted).
    void exec_seen(const model::ProcKey& key, const model::Argv& argv, uint64_t now_ns);
    void exited(const model::ProcKey& key, uint64_t now_ns);
    // Takes what the reader has read; forgets scripts kept past kKeepNs.
    void poll(uint64_t now_ns);
    // The script of `key` is still being read.
    bool reading(const model::ProcKey& key) const;
    bool busy() const { return !worker_.idle(); }
    // Waits (at most timeout_ms) until nothing is being read, then polls.
    void wait(int timeout_ms, uint64_t now_ns);
    // Gives the finding its script (f.script) and its processes their lines.
    void attach(model::Finding& f) const;
    // Scripts that could not be read (gone first, no regular file, past a bound, timed out).
    uint64_t unread() const { return unread_; }
    size_t bytes() const { return bytes_; }

private:
    struct Entry {
        std::optional<std::string> file;  // unset for sh -c
        model::Script script;
        std::string unread;  // why it was not read; empty when it was
        bool reading = false;
        bool posix = true;  // sh, dash, ash: how the text is parsed
        uint64_t exited_ns = 0;
        size_t bytes = 0;
    };
    void store(Entry& e, std::string_view text, bool truncated, bool posix);
    void fail(Entry& e, std::string why);

    size_t max_bytes_;
    std::string proc_root_;
    ReadWorker worker_;
    std::unordered_map<model::ProcKey, Entry, model::ProcKeyHash> scripts_;
    std::vector<ReadWorker::Result> results_;
    size_t bytes_ = 0;
    uint64_t unread_ = 0;
};

}  // namespace initwatch::meta
