// docs/output.md is the JSON output's reference: every field of every line the JSON writer
// emits must be named there, as a code span holding its path (`init.exit_code`,
// `live[].started_by.pid`, `counts.ringbuf_full`). Each line type is written here by the real
// writer with every optional field present, so a field added to the writer without a line in
// the reference fails this test.
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "model/exit_status.h"
#include "report/output.h"

using namespace initwatch;

namespace {

std::string capture_json(const std::function<void(report::Output&)>& write) {
    char* buf = nullptr;
    size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    {
        auto out = report::make_json_output(f);
        out->print_events(true);
        write(*out);
        out->flush();
    }
    std::fclose(f);
    std::string s(buf, len);
    free(buf);
    return s;
}

// Every key path of a JSON value: objects by `.`, array elements by `[]`.
void collect_paths(const nlohmann::json& j, const std::string& prefix, std::set<std::string>& out) {
    if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            const std::string path = prefix.empty() ? k : prefix + "." + k;
            out.insert(path);
            collect_paths(v, path, out);
        }
    } else if (j.is_array()) {
        for (const auto& v : j) collect_paths(v, prefix + "[]", out);
    }
}

std::set<std::string> code_spans(const std::string& text) {
    std::set<std::string> spans;
    static const std::regex span("`([^`\n]+)`");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), span); it != std::sregex_iterator(); ++it)
        spans.insert((*it)[1].str());
    return spans;
}

std::string read_doc() {
    std::ifstream in(std::string(TOP_DIR) + "/docs/output.md");
    REQUIRE(in);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A process with every optional flag set.
template <typename P>
void fill_process(P& p, uint32_t pid) {
    p.pid = pid;
    p.ns_pid = pid - 100;
    p.comm = "sleep";
    p.argv = {"sleep", "3600"};
    p.argv_truncated = p.argv_dropped = p.argv_unknown = p.from_snapshot = true;
    p.execed = false;
}

model::LiveProcess live_process(uint32_t pid, model::How how, bool exited_starter) {
    model::LiveProcess p;
    fill_process(p, pid);
    p.ppid = 101;
    p.age_ns = 600'000'000;
    p.how = how;
    p.chain = {pid - 1, 101};
    p.sighup_ignored = p.session_leader = true;
    model::Starter st;
    fill_process(st, pid - 1);
    if (exited_starter) st.status = model::ExitStatus::decode(0);
    st.before_ns = 300'000'000;
    p.started_by = st;
    p.started_by_dropped = true;
    p.stdio[0] = model::Stdio{model::StdioKind::null, 5, "null"};
    p.stdio[1] = model::Stdio{model::StdioKind::file, 9, "app.log"};
    p.source = model::SourceLine{"/my-app/startup.sh", 3, "nohup node /my-app/server.js &",
                                 "exec node /my-app/server.js"};
    return p;
}

meta::FindingContext full_context() {
    meta::FindingContext c;
    c.node = "node-1";
    c.container.cgroup_id = 42;
    c.container.cgroup_path = "/kubepods/pod1/abc";
    c.container.id = "abc";
    c.container.runtime = "containerd";
    c.container.name = "app";
    c.container.image = "my-app:1.0";
    c.container.pod = meta::PodRef{"web-1", "shop", "7c1e5a0e-93b3-4f0c-a8c4-1d2e3f4a5b6c"};
    c.repeat.count = 3;
    c.repeat.since_first_ns = 125'000'000'000ULL;
    return c;
}

model::Finding base_finding(model::Kind kind) {
    model::Finding f;
    f.kind = kind;
    f.ts_ns = 5'000'000'000ULL;
    f.pidns_inum = 4026532200u;
    fill_process(f.init, 101);
    f.init.stdio[0] = f.init.stdio[1] = model::Stdio{model::StdioKind::pipe, 7, ""};
    f.init.status = model::ExitStatus::decode(0);
    f.init.ran_ns = 612'000'000;
    f.live.push_back(live_process(201, model::How::reparented, true));
    f.live.push_back(live_process(202, model::How::descendant, false));
    f.unlisted.push_back({model::How::background, "sleep", 3});
    f.live_count = 5;
    f.kernel_ns_pids = 4;
    f.kernel_disagrees = f.incomplete = true;
    f.diagnosis = "a diagnosis";
    f.script = model::Finding::Script{"/my-app/startup.sh", "not a regular file"};
    return f;
}

std::set<std::string> emitted_paths() {
    model::Finding init_exit = base_finding(model::Kind::init_exit);
    model::ExitedSummary entrypoint;
    fill_process(entrypoint, 102);
    entrypoint.status = model::ExitStatus::decode(0);
    entrypoint.ran_ns = 600'000'000;
    init_exit.entrypoint = entrypoint;

    model::Finding worker_exit = base_finding(model::Kind::worker_exit);
    model::WorkerSummary worker;
    static_cast<model::LiveProcess&>(worker) = live_process(203, model::How::reparented, true);
    worker.status = model::ExitStatus::decode(11);
    worker_exit.worker = worker;
    worker_exit.restarted = true;
    worker_exit.other_workers_ended = 2;
    model::KilledBy killer;
    killer.kind = model::KilledBy::Sender::process;
    killer.signal = 9;
    model::ProcessSummary sender;
    fill_process(sender, 812);
    killer.sender = sender;
    killer.memory_max = uint64_t{32} << 20;
    worker_exit.killed_by = killer;
    meta::FindingContext killer_context = full_context();
    killer_context.killer_container = killer_context.container;

    model::Finding stop_ignored = base_finding(model::Kind::stop_ignored);
    stop_ignored.init.status = model::ExitStatus::decode(SIGKILL);
    stop_ignored.killed_by = killer;
    model::KilledBy stopper = killer;
    stopper.signal = SIGTERM;
    stop_ignored.stop = model::IgnoredStop{5, stopper, 10'000'000'000};

    model::TaskInfo task;
    task.key = {300, 1};
    task.parent = {299, 1};
    task.comm = "sh";
    model::ExecEvent exec{7, task, 301, "/bin/sh", {"sh", "-c", "true"}, true, {}};
    model::ExitEvent exit{8, task, 256, true, 1};
    model::SnapshotEvent snapshot{9, task, {"sh"}, false, false};
    model::ProcessSummary known;
    known.argv = {"sh"};
    model::SignalEvent signal{12, task, task, false, 9, 0};
    model::OomEvent oom{13, task};

    // The reasons of Pipeline::lost_totals and probe::drop_reason_name.
    const report::LostCounts every_reason = {
        {"ringbuf_full", 1},      {"exit_map_full", 1},          {"argv_unreadable", 1},
        {"malformed", 1},         {"process_table_full", 1},     {"argv_dropped", 1},
        {"starter_dropped", 1},   {"worker_finding_dropped", 1}, {"finding_suppressed", 1},
        {"argv_read_timeout", 1}, {"script_unread", 1},          {"sink_queue_full", 1},
        {"killer_unrecorded", 1}, {"killer_log_full", 1}};

    const std::string out = capture_json([&](report::Output& o) {
        o.finding(init_exit, full_context());
        o.finding(worker_exit, killer_context);
        o.finding(stop_ignored, killer_context);
        o.event(model::ForkEvent{6, task}, nullptr);
        o.event(exec, nullptr);
        o.event(exit, &known);
        o.event(snapshot, nullptr);
        o.event(signal, nullptr);
        o.event(oom, nullptr);
        o.suppressed(10, full_context(), 4, 5);
        o.lost(11, every_reason);
    });
    std::set<std::string> paths, types;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        const auto j = nlohmann::json::parse(line);
        CHECK(j.at("schema") == report::Output::kJsonSchema);
        types.insert(j.at("type").get<std::string>());
        collect_paths(j, "", paths);
    }
    CHECK(types == std::set<std::string>{"init_exit", "worker_exit", "stop_ignored", "fork", "exec", "exit",
                                         "snapshot", "signal", "oom_victim", "suppressed", "lost"});
    for (const auto& t : types) paths.insert(t);  // each line type is named too
    return paths;
}

}  // namespace

TEST_CASE("docs/output.md names every field of every JSON line type") {
    const std::set<std::string> documented = code_spans(read_doc());
    const std::set<std::string> emitted = emitted_paths();
    REQUIRE(emitted.size() > 100);
    for (const auto& path : emitted) {
        INFO("emitted but not in docs/output.md: `" << path << "`");
        CHECK(documented.count(path) == 1);
    }
}
