#include <nlohmann/json.hpp>

#include "report/output.h"

namespace initwatch::report {

namespace {

// Insertion order: "type" and "time" lead every line.
using json = nlohmann::ordered_json;

template <typename T>
json optional(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

uint64_t to_ms(uint64_t ns) { return ns / 1'000'000ULL; }

void put_process(json& j, const model::ProcessSummary& p) {
    j["pid"] = p.pid;
    j["ns_pid"] = p.ns_pid;
    j["comm"] = p.comm;
    j["argv"] = p.argv.vector();
    if (p.argv_truncated) j["argv_truncated"] = true;
    if (p.from_snapshot) j["from_snapshot"] = true;
    j["execed"] = p.execed;
}

void put_task(json& j, const model::TaskInfo& t) {
    j["pid"] = t.key.tgid;
    j["ppid"] = t.parent.tgid;
    j["ns_pid"] = t.ns_pid;
    j["pidns"] = t.pidns_inum;
    j["ns_level"] = t.ns_level;
    j["cgroup_id"] = t.cgroup_id;
    j["comm"] = t.comm;
}

class JsonOutput final : public Output {
public:
    using Output::Output;

    void finding(const model::Finding& f, const meta::FindingContext& context) override {
        const meta::ContainerInfo& container = context.container;
        json j;
        j["type"] = "init_exit";
        j["time"] = clock().rfc3339(f.ts_ns);
        j["severity"] = model::to_string(f.severity);
        j["scope"] = model::to_string(f.scope);
        j["diagnosis"] = f.diagnosis;
        j["node"] = context.node;
        j["container"] = {{"cgroup_id", container.cgroup_id},
                          {"cgroup_path", optional(container.cgroup_path)},
                          {"id", optional(container.id)},
                          {"runtime", optional(container.runtime)},
                          {"name", optional(container.name)}};
        j["pod"] = container.pod ? json{{"name", optional(container.pod->name)},
                                        {"namespace", optional(container.pod->namespace_name)},
                                        {"uid", optional(container.pod->uid)}}
                                 : json(nullptr);
        j["repeat"] = {{"count", context.repeat.count},
                       {"since_first_ms", context.repeat.since_first_ns
                                              ? json(*context.repeat.since_first_ns / 1'000'000ULL)
                                              : json(nullptr)}};
        j["pidns"] = f.pidns_inum;
        json init;
        put_process(init, f.init);
        init["exit_code"] = optional(f.init.status.exit_code);
        init["signal"] = optional(f.init.status.signal);
        init["core_dumped"] = f.init.status.core_dumped;
        init["ran_ms"] = to_ms(f.init.ran_ns);
        j["init"] = std::move(init);
        json live = json::array();
        for (const auto& p : f.live) {
            json lp;
            put_process(lp, p);
            lp["ppid"] = p.ppid;
            lp["age_ms"] = to_ms(p.age_ns);
            lp["how"] = model::to_string(p.how);
            lp["chain"] = p.chain;
            lp["sighup_ignored"] = p.sighup_ignored;
            lp["session_leader"] = p.session_leader;
            live.push_back(std::move(lp));
        }
        j["live"] = std::move(live);
        j["live_count"] = f.live.size();
        j["kernel_ns_pids"] = f.kernel_ns_pids;
        j["kernel_disagrees"] = f.kernel_disagrees;
        j["incomplete"] = f.incomplete;
        emit(j);
        flush();
    }

    void event(const model::Event& e, const model::ProcessSummary* known) override {
        json j;
        std::visit(
            [&](const auto& ev) {
                using T = std::decay_t<decltype(ev)>;
                j["type"] = std::is_same_v<T, model::ForkEvent>   ? "fork"
                            : std::is_same_v<T, model::ExecEvent> ? "exec"
                            : std::is_same_v<T, model::ExitEvent> ? "exit"
                                                                  : "snapshot";
                j["time"] = clock().rfc3339(ev.ts_ns);
                put_task(j, ev.task);
            },
            e);
        if (const auto* exec = std::get_if<model::ExecEvent>(&e)) {
            j["filename"] = exec->filename;
            j["argv"] = exec->argv.vector();
            if (exec->argv_truncated) j["argv_truncated"] = true;
            if (exec->old_pid != exec->task.key.tgid) j["old_pid"] = exec->old_pid;
        } else if (const auto* exit = std::get_if<model::ExitEvent>(&e)) {
            const auto status = model::ExitStatus::decode(exit->wait_status);
            j["exit_code"] = optional(status.exit_code);
            j["signal"] = optional(status.signal);
            j["core_dumped"] = status.core_dumped;
            j["ns_init"] = exit->ns_init;
            j["ran_ms"] = to_ms(exit->ts_ns - exit->task.key.start_ns);
            if (known) j["argv"] = known->argv.vector();
        } else if (const auto* snap = std::get_if<model::SnapshotEvent>(&e)) {
            j["argv"] = snap->argv.vector();
        }
        emit(j);
    }

    void lost(uint64_t ts_ns, const LostCounts& counts) override {
        json j;
        j["type"] = "lost";
        j["time"] = clock().rfc3339(ts_ns);
        json c = json::object();
        for (const auto& [reason, n] : counts) c[reason] = n;
        j["counts"] = std::move(c);
        emit(j);
        flush();
    }

private:
    // Strings from containers may hold invalid UTF-8: replace those bytes (U+FFFD) rather
    // than fail; valid UTF-8 passes unchanged and control characters are \u-escaped.
    void emit(const json& j) { write_line(j.dump(-1, ' ', false, json::error_handler_t::replace)); }
};

}  // namespace

std::unique_ptr<Output> make_json_output(std::FILE* out) { return std::make_unique<JsonOutput>(out); }

}  // namespace initwatch::report
