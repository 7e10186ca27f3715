#include "meta/script_reader.h"

#include <fcntl.h>

#include <chrono>
#include <memory>
#include <thread>

namespace initwatch::meta {

namespace {

constexpr std::chrono::milliseconds kReadDeadline{500};

std::string why_unread(const util::FileRead& r) {
    switch (r.error) {
        case util::ReadError::none:
            return {};
        case util::ReadError::not_found:
            return "not found in the container";
        case util::ReadError::symlink:
            return "a symlink loop";
        case util::ReadError::not_regular:
            return "not a regular file";
        case util::ReadError::too_large:
            return "too large";
        case util::ReadError::failed:
            return "could not be read (errno " + std::to_string(r.sys_errno) + ")";
    }
    return "could not be read";
}

}  // namespace

ScriptReader::ScriptReader(size_t max_bytes, std::string proc_root)
    : max_bytes_(max_bytes),
      proc_root_(std::move(proc_root)),
      worker_(kReadDeadline, kMaxScripts, 4 * kMaxScriptBytes) {}

void ScriptReader::exec_seen(const model::ProcKey& key, const model::Argv& argv, uint64_t now_ns) {
    const std::optional<model::ScriptSource> source = model::script_of(argv);
    // Another program (`exec node server.js` as the script's last line): what the script
    // started before still came from its lines, so the script is kept.
    if (!source) return;
    poll(now_ns);  // forget what expired before counting the bounds
    if (scripts_.size() >= kMaxScripts && !scripts_.count(key)) {
        ++unread_;
        return;
    }
    Entry& e = scripts_[key];
    bytes_ -= e.bytes;
    e = Entry{};
    e.file = source->path;
    if (source->text) {
        store(e, *source->text, false, source->posix);
        return;
    }
    const std::string proc = proc_root_ + "/" + std::to_string(key.tgid);
    const bool absolute = !source->path->empty() && (*source->path)[0] == '/';
    // Opened now, in the loop (no read of the container's files yet): they outlive the process.
    // /proc/PID/root is a magic link to the container's root: followed here, on purpose.
    auto dir = std::make_shared<util::Fd>(
        ::open((proc + (absolute ? "/root" : "/cwd")).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!*dir) {
        fail(e, "its process was gone before it was read");
        return;
    }
    e.reading = true;
    e.posix = source->posix;
    worker_.submit({{key, [dir, path = *source->path] {
                         util::ReadOptions options;
                         options.max_bytes = kMaxScriptBytes;
                         options.resolve = util::Resolve::in_root;
                         return util::read_bounded(dir->get(), path, options);
                     }}});
}

void ScriptReader::exited(const model::ProcKey& key, uint64_t now_ns) {
    if (auto it = scripts_.find(key); it != scripts_.end()) it->second.exited_ns = now_ns;
}

void ScriptReader::poll(uint64_t now_ns) {
    results_.clear();
    worker_.take(results_);
    for (auto& r : results_) {
        auto it = scripts_.find(r.key);
        if (it == scripts_.end() || !it->second.reading) continue;
        Entry& e = it->second;
        e.reading = false;
        if (r.timed_out)
            fail(e, "its read timed out");
        else if (!r.read.ok())
            fail(e, why_unread(r.read));
        else
            store(e, r.read.data, r.read.truncated, e.posix);
    }
    results_.clear();
    for (auto it = scripts_.begin(); it != scripts_.end();) {
        if (it->second.exited_ns && now_ns - it->second.exited_ns > kKeepNs && !it->second.reading) {
            bytes_ -= it->second.bytes;
            it = scripts_.erase(it);
        } else {
            ++it;
        }
    }
}

void ScriptReader::wait(int timeout_ms, uint64_t now_ns) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        poll(now_ns);  // a result waiting to be taken keeps the worker from being idle
        if (worker_.idle() || std::chrono::steady_clock::now() >= until) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

bool ScriptReader::reading(const model::ProcKey& key) const {
    auto it = scripts_.find(key);
    return it != scripts_.end() && it->second.reading;
}

void ScriptReader::store(Entry& e, std::string_view text, bool truncated, bool posix) {
    model::Script script = model::parse_script(text, truncated, posix);
    const size_t bytes = script.bytes();
    if (bytes_ + bytes > max_bytes_) {
        fail(e, "past the scripts' memory bound");
        return;
    }
    e.script = std::move(script);
    e.bytes = bytes;
    bytes_ += bytes;
}

void ScriptReader::fail(Entry& e, std::string why) {
    e.unread = std::move(why);
    ++unread_;
}

void ScriptReader::attach(model::Finding& f) const {
    auto it = scripts_.find(f.script_process);
    if (it == scripts_.end()) return;
    const Entry& e = it->second;
    f.script = model::Finding::Script{e.file, e.reading ? "still being read" : e.unread};
    if (e.reading || !e.unread.empty()) return;
    model::attach_sources(f, e.script, e.file);
}

}  // namespace initwatch::meta
