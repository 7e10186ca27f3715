#include <algorithm>
#include <cstdint>
#include <map>

#include "report/escape.h"
#include "report/output.h"
#include "util/time.h"

namespace initwatch::report {

namespace {

struct Style {
    bool on;
    std::string wrap(const char* code, const std::string& s) const {
        return on ? std::string("\x1b[") + code + "m" + s + "\x1b[0m" : s;
    }
    std::string bold(const std::string& s) const { return wrap("1", s); }
    std::string dim(const std::string& s) const { return wrap("2", s); }
    std::string severity(model::Severity sev) const {
        std::string label = model::to_string(sev);
        std::transform(label.begin(), label.end(), label.begin(), ::toupper);
        switch (sev) {
            case model::Severity::warning:
                return wrap("1;33", label);
            case model::Severity::error:
                return wrap("1;31", label);
            case model::Severity::info:
                return wrap("1;36", label);
        }
        return label;
    }
};

std::string pad(std::string s, size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s;
}

std::string pid_label(uint32_t pid, uint32_t ns_pid) {
    return std::to_string(pid) + " [ns " + std::to_string(ns_pid) + "]";
}

// "namespace/pod/container" when kubelet's logs say, else the short container id.
std::string workload_name(const meta::ContainerInfo& c) {
    if (c.pod && c.pod->name && c.name)
        return c.pod->namespace_name.value_or("?") + "/" + *c.pod->name + "/" + *c.name;
    if (c.id) return *c.runtime + "://" + c.id->substr(0, 12);
    return {};
}

std::string flags_of(const model::LiveProcess& p) {
    std::string out;
    if (p.sighup_ignored) out += " nohup";
    if (p.session_leader) out += " setsid";
    if (!p.execed) out += " (forked, not exec'd yet)";
    if (p.from_snapshot) out += " (seen at start)";
    return out;
}

std::string argv_note(const model::ProcessSummary& p) {
    if (p.argv_unknown) return " (argv unknown: /proc not read in time)";
    if (p.argv_dropped) return " (argv cut: memory budget spent)";
    return "";
}

// Who started a reparented process (the tree shows a descendant's parent).
std::string starter_note(const model::LiveProcess& p) {
    if (p.how != model::How::reparented) return "";
    if (p.started_by_dropped) return ", started by a process not kept (memory budget spent)";
    const auto& st = p.started_by;
    if (!st || !st->status) return "";
    return ", started by " + format_command(st->argv, st->comm, st->argv_truncated) + " (pid " +
           std::to_string(st->pid) + ", " + st->status->describe() + " " +
           util::format_duration(st->before_ns) + " before init)";
}

// "1,234"
std::string thousands(uint64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

class TextOutput final : public Output {
public:
    TextOutput(std::FILE* out, bool color, std::string name) : Output(out, std::move(name)), style_{color} {}

    void finding(const model::Finding& f, const meta::FindingContext& context) override {
        const auto& s = style_;
        const meta::ContainerInfo& container = context.container;
        const size_t n = f.live_count;
        const std::string who = workload_name(container);
        const std::string processes = std::to_string(n) + (n == 1 ? " process" : " processes");
        const model::WorkerSummary* worker = nullptr;
        std::string headline, init_state;
        switch (f.kind) {
            case model::Kind::init_exit:
                headline = std::string(f.scope == model::Scope::pidns ? "init" : "main process") +
                           " exited (" + f.init.status.describe() + ") leaving " + processes + " running";
                init_state = "ran " + util::format_duration(f.init.ran_ns) + ", " + f.init.status.describe();
                break;
            case model::Kind::worker_exit:
                worker = &f.worker.value();
                headline = "worker " + worker->comm + " ended (" + worker->status.describe() + ") after " +
                           util::format_duration(worker->age_ns) + " while init runs on" +
                           (f.restarted ? " (init restarted it)"
                            : n         ? " with " + processes
                                        : " alone");
                init_state = "running, age " + util::format_duration(f.init.ran_ns);
                break;
            case model::Kind::stop_ignored:
                headline = "init ignored " + model::signal_name(f.stop->sender.signal) + " and was killed (" +
                           f.init.status.describe() + ") " + util::format_duration(f.stop->waited_ns) +
                           " later: every stop waits its whole grace period";
                init_state = "ran " + util::format_duration(f.init.ran_ns) + ", " + f.init.status.describe();
                break;
        }
        write_line(s.dim(clock().rfc3339(f.ts_ns)) + "  " + s.severity(f.severity) + "  " +
                   (who.empty() ? "" : s.bold(escape_text(who)) + ": ") + s.bold(escape_text(headline)) +
                   (context.repeat.text.empty() ? "" : " — " + s.bold(context.repeat.text)) +
                   (f.kernel_disagrees ? "  (incomplete: the kernel has fewer processes than listed)"
                    : f.incomplete     ? "  (incomplete: events were lost)"
                                       : ""));
        std::string where = "cgroup " + escape_text(container.cgroup_path.value_or("?")) + "  (";
        if (container.id)
            where += escape_text(*container.runtime) + " " + escape_text(container.id->substr(0, 12)) + ", ";
        // A Kubernetes container's name is in the headline already.
        if (container.name && !container.pod) where += "name " + escape_text(*container.name) + ", ";
        if (container.image) where += "image " + escape_text(*container.image) + ", ";
        where +=
            "cgroup id " + std::to_string(container.cgroup_id) + ", pidns " + std::to_string(f.pidns_inum);
        if (!context.node.empty()) where += ", node " + escape_text(context.node);
        write_line("  " + s.dim("container ") + " " + where + ")");

        size_t width = pid_label(f.init.pid, f.init.ns_pid).size();
        for (const auto& p : f.live) width = std::max(width, pid_label(p.pid, p.ns_pid).size() + 3);
        write_line("  " + s.dim(f.scope == model::Scope::pidns ? "init      " : "main      ") + " " +
                   pad(pid_label(f.init.pid, f.init.ns_pid), width) + "  " +
                   format_command(f.init.argv, f.init.comm, f.init.argv_truncated) +
                   s.dim(argv_note(f.init)) + "  " + s.dim(init_state));
        if (const auto& e = f.entrypoint)
            write_line("  " + s.dim("its child ") + " " + pad(pid_label(e->pid, e->ns_pid), width) + "  " +
                       format_command(e->argv, e->comm, e->argv_truncated) + s.dim(argv_note(*e)) + "  " +
                       s.dim("ran " + util::format_duration(e->ran_ns) + ", " + e->status.describe() + ", " +
                             util::format_duration(e->before_ns) + " before init: what init waited for"));
        if (worker) {
            const model::WorkerSummary& w = *worker;
            write_line("  " + s.dim("worker    ") + " " + pad(pid_label(w.pid, w.ns_pid), width) + "  " +
                       format_command(w.argv, w.comm, w.argv_truncated) + s.dim(argv_note(w)) + "  " +
                       s.dim("ran " + util::format_duration(w.age_ns) + ", " + w.status.describe() + ", ") +
                       s.bold(model::to_string(w.how)) + s.dim(flags_of(w) + starter_note(w)));
            if (w.source) write_line(std::string(13, ' ') + source_line(*w.source));
            killed_by_line(f, context);
            if (f.other_workers_ended)
                write_line("  " + s.dim("          ") + " " +
                           s.dim("and " + thousands(f.other_workers_ended) +
                                 " more of init's workers ended within " +
                                 util::format_duration(model::kRestartWindowNs) + " after it"));
            if (n) write_line("  " + s.dim("still running:"));
        }
        if (const auto& stop = f.stop)
            write_line("  " + s.dim("stop      ") + " " + escape_text(model::describe(stop->sender)) +
                       s.dim(", ignored: no handler in a PID 1; SIGKILL " +
                             util::format_duration(stop->waited_ns) + " later"));
        if (!worker) killed_by_line(f, context);
        tree(f, width);
        if (!f.unlisted.empty()) {
            std::string groups;
            for (const auto& g : f.unlisted)
                groups += (groups.empty() ? "" : ", ") + thousands(g.count) + " " + model::to_string(g.how) +
                          " " + (g.comm.empty() ? "(other)" : escape_text(g.comm));
            write_line(std::string(13, ' ') +
                       s.dim("… and " + thousands(f.live_count - f.live.size()) + " more, not listed: ") +
                       groups);
        }
        if (f.script && !f.script->unread.empty())
            write_line("  " + s.dim("script    ") + " " + escape_text(f.script->file.value_or("sh -c")) +
                       "  " + s.dim("not read: " + f.script->unread + " (no line can be named)"));
        write_line("  " + s.dim("diagnosis ") + " " + escape_text(f.diagnosis));
        write_line("");
        flush();
    }

    // Who sent the signal that ended init or the worker, when known.
    void killed_by_line(const model::Finding& f, const meta::FindingContext& context) {
        const auto& k = f.killed_by;
        if (!k) return;
        const auto& c = context.killer_container;
        write_line("  " + style_.dim("killed by ") + " " + escape_text(model::describe(*k)) +
                   (c && c->cgroup_path ? style_.dim("  cgroup " + escape_text(*c->cgroup_path)) : ""));
    }

    void event(const model::Event& e, const model::ProcessSummary* known) override {
        if (!header_done_) {
            write_line(style_.dim(pad("TIME", 12) + " " + pad("EVENT", 5) + " " + pad("PID", 7) + " " +
                                  pad("PPID", 7) + " " + pad("NSPID", 6) + " " + pad("PIDNS", 10) + " " +
                                  pad("CGROUP", 8) + " DETAILS"));
            header_done_ = true;
        }
        const auto& t = model::task_of(e);
        std::string kind, details;
        if (std::holds_alternative<model::ForkEvent>(e)) {
            kind = "fork";
            details = escape_text(t.comm);
        } else if (const auto* exec = std::get_if<model::ExecEvent>(&e)) {
            kind = "exec";
            details = format_command(exec->argv, exec->task.comm, exec->argv_truncated);
        } else if (const auto* exit = std::get_if<model::ExitEvent>(&e)) {
            kind = "exit";
            details =
                model::ExitStatus::decode(exit->wait_status).describe() + "  " +
                (known ? format_command(known->argv, t.comm, known->argv_truncated) : escape_text(t.comm)) +
                (exit->ns_init ? "  [namespace init]" : "");
        } else if (const auto* snap = std::get_if<model::SnapshotEvent>(&e)) {
            kind = "snap";
            details = format_command(snap->argv, t.comm, false);
        } else if (const auto* sig = std::get_if<model::SignalEvent>(&e)) {
            kind = "sig";
            details = model::signal_name(sig->signal) + "  " + escape_text(t.comm) + "  from " +
                      (sig->from_kernel ? std::string("the kernel")
                                        : escape_text(sig->sender.comm) + " (pid " +
                                              std::to_string(sig->sender.key.tgid) + ")");
        } else if (std::holds_alternative<model::OomEvent>(e)) {
            kind = "oom";
            details = "the OOM killer's victim";
        }
        write_line(pad(clock().time_of_day(model::time_of(e)), 12) + " " + pad(kind, 5) + " " +
                   pad(std::to_string(t.key.tgid), 7) + " " + pad(std::to_string(t.parent.tgid), 7) + " " +
                   pad(std::to_string(t.ns_pid), 6) + " " + pad(std::to_string(t.pidns_inum), 10) + " " +
                   pad(std::to_string(t.cgroup_id), 8) + " " + details);
    }

    void suppressed(uint64_t ts_ns, const meta::FindingContext& context, uint64_t count,
                    uint64_t first_ns) override {
        const std::string who = workload_name(context.container);
        const std::string where = who.empty() ? "cgroup " + context.container.cgroup_path.value_or("?") : who;
        write_line(style_.dim(clock().rfc3339(ts_ns)) + "  " + style_.severity(model::Severity::warning) +
                   "  " + escape_text(where) + ": " + std::to_string(count) +
                   (count == 1 ? " finding" : " findings") + " not shown since " + clock().rfc3339(first_ns) +
                   " (over this container's output budget; metrics count them all)");
        flush();
    }

    void lost(uint64_t ts_ns, const LostCounts& counts) override {
        std::string what;
        for (const auto& [reason, n] : counts) what += " " + reason + "=" + std::to_string(n);
        write_line(style_.dim(clock().rfc3339(ts_ns)) + "  " + style_.severity(model::Severity::warning) +
                   "  lost events:" + what + " (findings may be incomplete)");
        flush();
    }

private:
    // Each live process under its current parent. A parent is looked up among the processes
    // listed before it (the list is ordered by start time, and parents start first), so the
    // tree has no cycle even when a lost exit leaves two live processes with one pid; a
    // process whose parent is not listed stands as a `?` root. Walked with an explicit
    // stack, and indented at most kMaxDepth levels: a deep chain cannot exhaust the stack.
    void tree(const model::Finding& f, size_t width) {
        constexpr size_t kNone = SIZE_MAX, kMaxDepth = 32;
        const size_t n = f.live.size();
        std::vector<std::vector<size_t>> children(n + 1);  // children[n]: init's
        std::vector<size_t> roots;
        for (size_t i = 0; i < n; ++i) {
            size_t parent = f.live[i].ppid == f.init.pid ? n : kNone;
            for (size_t j = i; parent == kNone && j-- > 0;)
                if (f.live[j].pid == f.live[i].ppid) parent = j;
            (parent == kNone ? roots : children[parent]).push_back(i);
        }
        struct Frame {
            size_t index;
            std::string prefix;  // what the ancestors draw: "│  " or "   " per level
            size_t depth;
            bool last;
        };
        std::vector<Frame> stack;
        auto push_children = [&](size_t of, const std::string& prefix, size_t depth) {
            const auto& list = children[of];
            for (size_t k = list.size(); k-- > 0;)
                stack.push_back({list[k], prefix, depth, k + 1 == list.size()});
        };
        auto walk = [&](size_t of, const std::string& prefix, size_t depth) {
            push_children(of, prefix, depth);
            while (!stack.empty()) {
                const Frame fr = std::move(stack.back());
                stack.pop_back();
                line(f.live[fr.index], f.init, fr.prefix + (fr.last ? "└─ " : "├─ "), fr.depth, width);
                if (fr.depth + 1 < kMaxDepth)
                    push_children(fr.index, fr.prefix + (fr.last ? "   " : "│  "), fr.depth + 1);
                else
                    push_children(fr.index, fr.prefix, fr.depth);
            }
        };
        walk(n, "", 0);
        for (size_t i : roots) {
            line(f.live[i], f.init, "?  ", 0, width);
            walk(i, "   ", 1);
        }
    }

    void line(const model::LiveProcess& p, const model::ProcessSummary& init, const std::string& branch,
              size_t depth, size_t width) {
        const size_t used = 3 * (depth + 1);
        const size_t col = width > used ? width - used : 0;
        write_line(std::string(13, ' ') + branch + pad(pid_label(p.pid, p.ns_pid), col) + "  " +
                   format_command(p.argv, p.comm, p.argv_truncated) + "  " +
                   style_.dim("age " + util::format_duration(p.age_ns) + ", ") +
                   style_.bold(model::to_string(p.how)) +
                   style_.dim(flags_of(p) + argv_note(p) + starter_note(p) + stdio_note(p, init)));
        if (p.source) write_line(std::string(13 + 3 * (depth + 1), ' ') + source_line(*p.source));
    }

    // ", output to /dev/null": where its stdout and stderr went when not where init's went.
    static std::string stdio_note(const model::ProcessSummary& p, const model::ProcessSummary& init) {
        auto where = [](const model::Stdio& s) {
            switch (s.kind) {
                case model::StdioKind::null:
                    return std::string("/dev/null");
                case model::StdioKind::file:
                case model::StdioKind::other:
                    return "file " + escape_text(s.name);
                case model::StdioKind::unknown:
                case model::StdioKind::closed:
                case model::StdioKind::pipe:
                case model::StdioKind::socket:
                case model::StdioKind::tty:
                    break;
            }
            return std::string(model::to_string(s.kind));
        };
        const bool out = p.stdio[0].kind != model::StdioKind::unknown && !(p.stdio[0] == init.stdio[0]);
        const bool err = p.stdio[1].kind != model::StdioKind::unknown && !(p.stdio[1] == init.stdio[1]);
        if (init.stdio[0].kind == model::StdioKind::unknown || (!out && !err)) return {};
        if (out && err && p.stdio[0] == p.stdio[1]) return ", output to " + where(p.stdio[0]);
        return (out ? ", stdout to " + where(p.stdio[0]) : "") +
               (err ? ", stderr to " + where(p.stdio[1]) : "");
    }

    // "↳ line 3 of /my-app/startup.sh: nohup node /my-app/server.js &"
    std::string source_line(const model::SourceLine& src) const {
        return style_.dim("↳ line " + std::to_string(src.line) + " of " +
                          (src.file ? escape_text(*src.file) : std::string("the sh -c script")) + ": ") +
               escape_text(src.text);
    }

    Style style_;
    bool header_done_ = false;
};

}  // namespace

std::unique_ptr<Output> make_text_output(std::FILE* out, bool color, std::string name) {
    return std::make_unique<TextOutput>(out, color, std::move(name));
}

}  // namespace initwatch::report
