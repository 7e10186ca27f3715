#include <map>

#include "report/json_writer.h"
#include "report/output.h"

namespace initwatch::report {

namespace {

uint64_t to_ms(uint64_t ns) { return ns / 1'000'000ULL; }

// Room kept at the end of a finding's line for what follows the processes it lists.
constexpr size_t kFindingTailBytes = 16 << 10;

void put_argv(JsonWriter& w, const model::Argv& argv) {
    w.key("argv").begin_array();
    for (std::string_view a : argv) w.value(a);
    w.end_array();
}

void put_process(JsonWriter& w, const model::ProcessSummary& p) {
    w.field("pid", p.pid).field("ns_pid", p.ns_pid).field("comm", p.comm);
    put_argv(w, p.argv);
    if (p.argv_truncated) w.field("argv_truncated", true);
    if (p.argv_dropped) w.field("argv_dropped", true);
    if (p.argv_unknown) w.field("argv_unknown", true);
    if (p.from_snapshot) w.field("from_snapshot", true);
    w.field("execed", p.execed);
}

void put_task(JsonWriter& w, const model::TaskInfo& t) {
    w.field("pid", t.key.tgid).field("ppid", t.parent.tgid).field("ns_pid", t.ns_pid);
    w.field("pidns", t.pidns_inum).field("ns_level", t.ns_level).field("cgroup_id", t.cgroup_id);
    w.field("comm", t.comm);
}

void put_status(JsonWriter& w, const model::ExitStatus& s) {
    w.field("exit_code", s.exit_code).field("signal", s.signal).field("core_dumped", s.core_dumped);
}

// Who started a reparented or descendant process: its parent, running or exited (null: unknown).
void put_started_by(JsonWriter& w, const model::LiveProcess& p) {
    if (p.how != model::How::reparented && p.how != model::How::descendant) return;
    w.key("started_by");
    if (const auto& st = p.started_by) {
        w.begin_object();
        put_process(w, *st);
        w.field("running", !st->status.has_value());
        if (st->status) {
            put_status(w, *st->status);
            w.field("exited_before_init_ms", to_ms(st->before_ns));
        }
        w.end_object();
    } else {
        w.null();
    }
    if (p.started_by_dropped) w.field("started_by_dropped", true);
}

void put_live_fields(JsonWriter& w, const model::LiveProcess& p, const model::ProcessSummary& init) {
    put_process(w, p);
    w.field("ppid", p.ppid).field("age_ms", to_ms(p.age_ns)).field("how", model::to_string(p.how));
    w.key("chain").begin_array();
    for (uint32_t pid : p.chain) w.value(pid);
    w.end_array();
    w.field("sighup_ignored", p.sighup_ignored).field("session_leader", p.session_leader);
    put_started_by(w, p);
    // Where its output went, and whether that is where init's went (the container's log).
    static constexpr const char* kStream[] = {"stdout", "stderr"};
    for (size_t i = 0; i < 2; ++i) {
        w.key(kStream[i]);
        const model::Stdio& st = p.stdio[i];
        if (st.kind == model::StdioKind::unknown) {
            w.null();
            continue;
        }
        w.begin_object().field("kind", model::to_string(st.kind));
        w.key("name");
        if (st.name.empty())
            w.null();
        else
            w.value(st.name);
        w.key("same_as_init");
        if (init.stdio[i].kind == model::StdioKind::unknown)
            w.null();
        else
            w.value(p.stdio[i] == init.stdio[i]);
        w.end_object();
    }
    // The line of the entrypoint script that started it (null: not known).
    w.key("source");
    if (const auto& src = p.source) {
        w.begin_object().field("file", src->file).field("line", src->line).field("text", src->text);
        w.field("exec", src->suggestion).end_object();
    } else {
        w.null();
    }
}

// The node, the container and its pod, as a finding and a suppressed line name them.
void put_context(JsonWriter& w, const meta::FindingContext& context) {
    const meta::ContainerInfo& c = context.container;
    w.field("node", context.node);
    w.key("container").begin_object();
    w.field("cgroup_id", c.cgroup_id).field("cgroup_path", c.cgroup_path).field("id", c.id);
    w.field("runtime", c.runtime).field("name", c.name);
    w.field("image", c.image);
    w.end_object();
    w.key("pod");
    if (c.pod) {
        w.begin_object();
        w.field("name", c.pod->name).field("namespace", c.pod->namespace_name).field("uid", c.pod->uid);
        w.end_object();
    } else {
        w.null();
    }
}

// A signal's sender: its kind, the signal and the process (null fields unless a process).
void put_sender(JsonWriter& w, const model::KilledBy& k) {
    w.field("kind", model::to_string(k.kind)).field("signal", k.signal);
    if (k.sender) {
        w.field("pid", k.sender->pid).field("ns_pid", k.sender->ns_pid).field("comm", k.sender->comm);
        put_argv(w, k.sender->argv);
    } else {
        w.key("pid").null().key("ns_pid").null().key("comm").null().key("argv").null();
    }
}

// Who sent the signal that ended init or the worker (null: not ended by a signal, or not seen).
void put_killed_by(JsonWriter& w, const model::Finding& f, const meta::FindingContext& context) {
    w.key("killed_by");
    if (!f.killed_by) {
        w.null();
        return;
    }
    const model::KilledBy& k = *f.killed_by;
    w.begin_object();
    put_sender(w, k);
    w.key("container");
    if (const auto& c = context.killer_container) {
        w.begin_object().field("cgroup_id", c->cgroup_id).field("cgroup_path", c->cgroup_path);
        w.field("id", c->id).field("runtime", c->runtime).field("name", c->name);
        w.field("same", c->cgroup_id == context.container.cgroup_id).end_object();
    } else {
        w.null();
    }
    w.field("memory_max", k.memory_max);
    w.end_object();
}

void put_live(JsonWriter& w, const model::LiveProcess& p, const model::ProcessSummary& init) {
    w.begin_object();
    put_live_fields(w, p, init);
    w.end_object();
}

class JsonOutput final : public Output {
public:
    JsonOutput(std::FILE* out, std::string name)
        : Output(out, std::move(name)), w_([this](std::string_view s) { write_raw(s); }) {}

    void finding(const model::Finding& f, const meta::FindingContext& context) override {
        w_.begin_object();
        w_.field("type", model::to_string(f.kind)).field("schema", kJsonSchema);
        w_.field("time", clock().rfc3339(f.ts_ns));
        w_.field("severity", model::to_string(f.severity)).field("scope", model::to_string(f.scope));
        w_.field("diagnosis", f.diagnosis);
        put_context(w_, context);
        w_.key("repeat").begin_object().field("count", context.repeat.count);
        w_.key("since_first_ms");
        if (context.repeat.since_first_ns)
            w_.value(to_ms(*context.repeat.since_first_ns));
        else
            w_.null();
        w_.end_object();
        w_.field("pidns", f.pidns_inum);
        w_.key("init").begin_object();
        put_process(w_, f.init);
        switch (f.kind) {
            case model::Kind::init_exit:
                put_status(w_, f.init.status);
                w_.field("ran_ms", to_ms(f.init.ran_ns));
                w_.end_object();
                // The child init waited for, when init followed it at once (an init shim).
                w_.key("entrypoint");
                if (const auto& e = f.entrypoint) {
                    w_.begin_object();
                    put_process(w_, *e);
                    put_status(w_, e->status);
                    w_.field("ran_ms", to_ms(e->ran_ns)).field("before_init_ms", to_ms(e->before_ns));
                    w_.end_object();
                } else {
                    w_.null();
                }
                break;
            case model::Kind::worker_exit:
                w_.field("running", true).field("age_ms", to_ms(f.init.ran_ns));
                w_.end_object();
                w_.key("worker").begin_object();
                put_live_fields(w_, f.worker.value(), f.init);
                put_status(w_, f.worker->status);
                w_.end_object();
                w_.field("restarted", f.restarted).field("other_workers_ended", f.other_workers_ended);
                break;
            case model::Kind::stop_ignored:
                put_status(w_, f.init.status);
                w_.field("ran_ms", to_ms(f.init.ran_ns));
                w_.end_object();
                break;
        }
        put_killed_by(w_, f, context);
        // stop_ignored: the stop signal init ignored, and how long the stop waited for SIGKILL.
        w_.key("stop");
        if (const auto& stop = f.stop) {
            w_.begin_object();
            put_sender(w_, stop->sender);
            w_.field("waited_ms", to_ms(stop->waited_ns)).end_object();
        } else {
            w_.null();
        }

        // The entrypoint script the sources point into (null: none was run).
        w_.key("script");
        if (const auto& script = f.script) {
            w_.begin_object().field("file", script->file).field("read", script->unread.empty());
            w_.key("unread_reason");
            if (script->unread.empty())
                w_.null();
            else
                w_.value(script->unread);
            w_.end_object();
        } else {
            w_.null();
        }

        // The line stays within kMaxLineBytes: processes that would pass it are counted
        // with the unlisted ones instead.
        std::vector<model::LiveGroup> unlisted = f.unlisted;
        w_.key("live").begin_array();
        size_t listed = 0;
        for (; listed < f.live.size(); ++listed) {
            const JsonWriter::Mark before = w_.mark();
            put_live(w_, f.live[listed], f.init);
            if (w_.line_bytes() + kFindingTailBytes > kMaxLineBytes) {
                w_.rollback(before);
                break;
            }
            w_.maybe_flush();
        }
        for (size_t i = listed; i < f.live.size(); ++i)
            model::add_to_groups(unlisted, f.live[i].how, f.live[i].comm, 1);
        w_.end_array();
        w_.key("unlisted").begin_array();
        for (const auto& g : unlisted) {
            w_.begin_object().field("how", model::to_string(g.how)).field("comm", g.comm);
            w_.field("count", g.count).end_object();
        }
        w_.end_array();
        w_.field("live_count", f.live_count).field("kernel_ns_pids", f.kernel_ns_pids);
        w_.field("kernel_disagrees", f.kernel_disagrees).field("incomplete", f.incomplete);
        w_.end_object();
        w_.end_line();
        flush();
    }

    void event(const model::Event& e, const model::ProcessSummary* known) override {
        w_.begin_object();
        std::visit(
            [&](const auto& ev) {
                using T = std::decay_t<decltype(ev)>;
                w_.field("type", std::is_same_v<T, model::ForkEvent>     ? "fork"
                                 : std::is_same_v<T, model::ExecEvent>   ? "exec"
                                 : std::is_same_v<T, model::ExitEvent>   ? "exit"
                                 : std::is_same_v<T, model::SignalEvent> ? "signal"
                                 : std::is_same_v<T, model::OomEvent>    ? "oom_victim"
                                                                         : "snapshot");
                w_.field("schema", kJsonSchema).field("time", clock().rfc3339(ev.ts_ns));
                put_task(w_, ev.task);
            },
            e);
        if (const auto* exec = std::get_if<model::ExecEvent>(&e)) {
            w_.field("filename", exec->filename);
            put_argv(w_, exec->argv);
            if (exec->argv_truncated) w_.field("argv_truncated", true);
            if (exec->old_pid != exec->task.key.tgid) w_.field("old_pid", exec->old_pid);
        } else if (const auto* exit = std::get_if<model::ExitEvent>(&e)) {
            const auto status = model::ExitStatus::decode(exit->wait_status);
            w_.field("exit_code", status.exit_code).field("signal", status.signal);
            w_.field("core_dumped", status.core_dumped).field("ns_init", exit->ns_init);
            w_.field("ran_ms", to_ms(exit->ts_ns - exit->task.key.start_ns));
            if (known) put_argv(w_, known->argv);
        } else if (const auto* snap = std::get_if<model::SnapshotEvent>(&e)) {
            put_argv(w_, snap->argv);
        } else if (const auto* sig = std::get_if<model::SignalEvent>(&e)) {
            w_.field("signal", sig->signal).field("si_code", sig->si_code).field("ignored", sig->ignored);
            w_.key("sender");
            if (sig->from_kernel) {
                w_.null();
            } else {
                w_.begin_object();
                put_task(w_, sig->sender);
                w_.end_object();
            }
        }
        w_.end_object();
        w_.end_line();
    }

    void suppressed(uint64_t ts_ns, const meta::FindingContext& context, uint64_t count,
                    uint64_t first_ns) override {
        w_.begin_object().field("type", "suppressed").field("schema", kJsonSchema);
        w_.field("time", clock().rfc3339(ts_ns));
        put_context(w_, context);
        w_.field("count", count).field("since", clock().rfc3339(first_ns));
        w_.end_object();
        w_.end_line();
        flush();
    }

    void lost(uint64_t ts_ns, const LostCounts& counts) override {
        w_.begin_object().field("type", "lost").field("schema", kJsonSchema);
        w_.field("time", clock().rfc3339(ts_ns));
        w_.key("counts").begin_object();
        for (const auto& [reason, n] : counts) w_.field(reason, n);
        w_.end_object().end_object();
        w_.end_line();
        flush();
    }

private:
    JsonWriter w_;
};

}  // namespace

std::unique_ptr<Output> make_json_output(std::FILE* out, std::string name) {
    return std::make_unique<JsonOutput>(out, std::move(name));
}

}  // namespace initwatch::report
