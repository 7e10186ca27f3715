#include "probe/decode.h"

#include <initwatch/events.h>

#include <cstring>

namespace initwatch::probe {

namespace {

std::string bounded_string(const char* s, size_t max) { return std::string(s, strnlen(s, max)); }

model::TaskInfo decode_task(const iw_task& t) {
    model::TaskInfo out;
    out.key = {t.key.tgid, t.key.start_ns};
    out.parent = {t.parent.tgid, t.parent.start_ns};
    out.cgroup_id = t.cgroup_id;
    out.pidns_inum = t.pidns_inum;
    out.ns_pid = t.ns_pid;
    out.ns_level = t.ns_level;
    out.sighup_ignored = (t.flags & IW_TASK_SIGHUP_IGNORED) != 0;
    out.session_leader = (t.flags & IW_TASK_SESSION_LEADER) != 0;
    out.comm = bounded_string(t.comm, sizeof(t.comm));
    return out;
}

template <typename Record>
bool read_record(const void* data, size_t size, Record& out) {
    if (size < sizeof(Record)) return false;
    std::memcpy(&out, data, sizeof(Record));
    return true;
}

// The kernel's dev_t: major << 20 | minor.
model::Stdio decode_stdio(const iw_stdio& st) {
    constexpr uint32_t kNull = 1u << 20 | 3;  // /dev/null
    model::Stdio out;
    out.ino = st.ino;
    switch (st.type) {
        case IW_STDIO_CLOSED:
            out.kind = model::StdioKind::closed;
            return out;
        case IW_STDIO_PIPE:
            out.kind = model::StdioKind::pipe;
            return out;
        case IW_STDIO_SOCKET:
            out.kind = model::StdioKind::socket;
            return out;
        case IW_STDIO_CHAR: {
            const uint32_t major = st.rdev >> 20;
            // /dev/tty*, /dev/console (4, 5) and pseudo-terminals (136-143)
            out.kind = st.rdev == kNull                                             ? model::StdioKind::null
                       : major == 4 || major == 5 || (major >= 136 && major <= 143) ? model::StdioKind::tty
                                                                                    : model::StdioKind::other;
            break;
        }
        case IW_STDIO_FILE:
            out.kind = model::StdioKind::file;
            break;
        case IW_STDIO_OTHER:
            out.kind = model::StdioKind::other;
            break;
        default:
            return model::Stdio{};
    }
    out.name = bounded_string(st.name, sizeof(st.name));
    return out;
}

}  // namespace

std::optional<model::Event> decode_record(const void* data, size_t size) {
    iw_header hdr;
    if (!read_record(data, size, hdr) || hdr.version != IW_EVENTS_VERSION) return std::nullopt;

    switch (hdr.type) {
        case IW_EVENT_FORK: {
            iw_fork_event rec;
            if (!read_record(data, size, rec)) return std::nullopt;
            return model::ForkEvent{rec.hdr.ts_ns, decode_task(rec.task)};
        }
        case IW_EVENT_SNAPSHOT: {  // argv is read from /proc by the caller
            iw_fork_event rec;
            if (!read_record(data, size, rec)) return std::nullopt;
            model::SnapshotEvent snap{rec.hdr.ts_ns, decode_task(rec.task), {}};
            snap.argv_unknown = true;
            return snap;
        }
        case IW_EVENT_EXIT: {
            iw_exit_event rec;
            if (!read_record(data, size, rec)) return std::nullopt;
            model::ExitEvent ev;
            ev.ts_ns = rec.hdr.ts_ns;
            ev.task = decode_task(rec.task);
            ev.wait_status = rec.exit_code;
            ev.ns_init = (rec.hdr.flags & IW_EXIT_NS_INIT) != 0;
            ev.ns_pids_allocated = rec.ns_pids_allocated;
            return ev;
        }
        case IW_EVENT_EXEC: {
            if (size < IW_EXEC_EVENT_FIXED_SIZE) return std::nullopt;
            const auto* rec = static_cast<const iw_exec_event*>(data);
            iw_header h;
            iw_task t;
            uint32_t old_pid, argv_len;
            std::memcpy(&h, &rec->hdr, sizeof(h));
            std::memcpy(&t, &rec->task, sizeof(t));
            std::memcpy(&old_pid, &rec->old_pid, sizeof(old_pid));
            std::memcpy(&argv_len, &rec->argv_len, sizeof(argv_len));
            if (argv_len > IW_ARGV_LEN || IW_EXEC_EVENT_FIXED_SIZE + argv_len > size) return std::nullopt;
            model::ExecEvent ev;
            ev.ts_ns = h.ts_ns;
            ev.task = decode_task(t);
            ev.old_pid = old_pid;
            ev.filename = bounded_string(rec->filename, sizeof(rec->filename));
            ev.argv = model::Argv::from_bytes(std::string_view(rec->argv, argv_len));  // one allocation
            ev.argv_truncated = (h.flags & IW_EXEC_ARGV_TRUNCATED) != 0;
            for (size_t i = 0; i < ev.stdio.size(); ++i) {
                iw_stdio st;
                std::memcpy(&st, &rec->stdio[i], sizeof(st));
                ev.stdio[i] = decode_stdio(st);
            }
            return ev;
        }
        case IW_EVENT_SIGNAL: {
            iw_signal_event rec;
            if (!read_record(data, size, rec)) return std::nullopt;
            model::SignalEvent ev;
            ev.ts_ns = rec.hdr.ts_ns;
            ev.task = decode_task(rec.target);
            ev.from_kernel = (rec.hdr.flags & IW_SIGNAL_FROM_KERNEL) != 0;
            if (!ev.from_kernel) ev.sender = decode_task(rec.sender);
            ev.ignored = (rec.hdr.flags & IW_SIGNAL_IGNORED) != 0;
            ev.signal = static_cast<int>(rec.sig);
            ev.si_code = rec.si_code;
            return ev;
        }
        case IW_EVENT_OOM: {
            iw_oom_event rec;
            if (!read_record(data, size, rec)) return std::nullopt;
            model::OomEvent ev;
            ev.ts_ns = rec.hdr.ts_ns;
            ev.task.key = {rec.victim.tgid, (rec.hdr.flags & IW_OOM_PID_ONLY) ? 0 : rec.victim.start_ns};
            return ev;
        }
        default:
            return std::nullopt;
    }
}

}  // namespace initwatch::probe
