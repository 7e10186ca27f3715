#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "report/output.h"

using namespace initwatch;

namespace {

// Runs `write` against an Output on a memory stream and returns what it printed.
template <typename Make, typename Write>
std::string capture(Make make, Write write) {
    char* buf = nullptr;
    size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    {
        auto out = make(f);
        write(*out);
        out->flush();
    }
    std::fclose(f);
    std::string s(buf, len);
    free(buf);
    return s;
}

std::unique_ptr<report::Output> json_output(std::FILE* f) { return report::make_json_output(f); }

model::Finding sample_finding(const std::string& hostile) {
    model::Finding f;
    f.ts_ns = 5'000'000'000ULL;
    f.severity = model::Severity::warning;
    f.cgroup_id = 42;
    f.pidns_inum = 4026532200u;
    f.init.pid = 200;
    f.init.ns_pid = 1;
    f.init.comm = "sh";
    f.init.argv = {"sh", "/startup.sh"};
    f.init.status = model::ExitStatus::decode(0);
    f.init.ran_ns = 612'000'000;
    model::LiveProcess p;
    p.pid = 201;
    p.ns_pid = 2;
    p.ppid = 200;
    p.comm = hostile.substr(0, 15);
    p.argv = {"node", hostile};
    p.age_ns = 600'000'000;
    p.how = model::How::background;
    p.chain = {200};
    p.sighup_ignored = true;
    f.live.push_back(p);
    f.live_count = 1;
    f.diagnosis = model::diagnose(f);
    return f;
}

meta::FindingContext container(const std::string& path) {
    meta::FindingContext c;
    c.container.cgroup_id = 42;
    c.container.cgroup_path = path;
    c.node = "node-1";
    return c;
}

}  // namespace

TEST_CASE("a JSON finding has the documented fields, exit code 0 included") {
    const auto f = sample_finding("/my-app/server.js");
    const std::string out =
        capture(json_output, [&](report::Output& o) { o.finding(f, container("/kubepods/pod1/abc")); });
    REQUIRE(out.back() == '\n');
    REQUIRE(out.find('\n') == out.size() - 1);  // one line
    const auto j = nlohmann::json::parse(out);
    CHECK(j["type"] == "init_exit");
    CHECK(j["severity"] == "warning");
    CHECK(j["time"].get<std::string>().back() == 'Z');
    CHECK(j["container"]["cgroup_id"] == 42);
    CHECK(j["container"]["cgroup_path"] == "/kubepods/pod1/abc");
    CHECK(j["container"]["id"].is_null());
    CHECK(j["pod"].is_null());
    CHECK(j["node"] == "node-1");
    CHECK(j["repeat"]["count"] == 1);
    CHECK(j["repeat"]["since_first_ms"].is_null());
    CHECK(j["scope"] == "pidns");
    CHECK(j["pidns"] == 4026532200u);
    CHECK(j["init"]["pid"] == 200);
    CHECK(j["init"]["ns_pid"] == 1);
    CHECK(j["init"]["exit_code"].is_number());
    CHECK(j["init"]["exit_code"] == 0);
    CHECK(j["init"]["signal"].is_null());
    CHECK(j["init"]["core_dumped"] == false);
    CHECK(j["init"]["ran_ms"] == 612);
    CHECK(j["live_count"] == 1);
    CHECK(j["live"][0]["how"] == "background");
    CHECK(j["live"][0]["ppid"] == 200);
    CHECK(j["live"][0]["age_ms"] == 600);
    CHECK(j["live"][0]["argv"][1] == "/my-app/server.js");
    CHECK(j["incomplete"] == false);
}

TEST_CASE("JSON stays valid and lossless for hostile but valid UTF-8") {
    const std::string hostile = "\x1b]0;pwned\x07\nline2 \"quoted\" \\ café";
    const auto f = sample_finding(hostile);
    const std::string out =
        capture(json_output, [&](report::Output& o) { o.finding(f, container("/x\ny")); });
    CHECK(out.find('\x1b') == std::string::npos);
    const auto j = nlohmann::json::parse(out);
    CHECK(j["live"][0]["argv"][1] == hostile);
    CHECK(j["container"]["cgroup_path"] == "/x\ny");
}

TEST_CASE("JSON replaces invalid UTF-8 instead of failing") {
    const auto f = sample_finding("bad\xff\xfe");
    const std::string out = capture(json_output, [&](report::Output& o) { o.finding(f, container("/")); });
    const auto j = nlohmann::json::parse(out);
    CHECK(j["live"][0]["argv"][1] == "bad\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("text output escapes container-controlled strings") {
    const std::string hostile = "\x1b[2J\nFAKE FINDING";
    const auto f = sample_finding(hostile);
    const std::string out = capture([](std::FILE* file) { return report::make_text_output(file, false); },
                                    [&](report::Output& o) { o.finding(f, container("/evil\x1b[31m")); });
    CHECK(out.find('\x1b') == std::string::npos);
    CHECK(out.find("\\x1b[2J\\nFAKE FINDING") != std::string::npos);
    CHECK(out.find("\nFAKE") == std::string::npos);
    CHECK(out.find("WARNING") != std::string::npos);
    CHECK(out.find("background") != std::string::npos);
    CHECK(out.find("nohup") != std::string::npos);
}

TEST_CASE("lost events are a line of their own") {
    const std::string out = capture(json_output, [](report::Output& o) {
        o.lost(1, {{"ringbuf_full", 12}});
    });
    const auto j = nlohmann::json::parse(out);
    CHECK(j["type"] == "lost");
    CHECK(j["counts"]["ringbuf_full"] == 12);
}

TEST_CASE("a failed write marks the output broken, with the file and the error, instead of throwing") {
    std::FILE* f = std::fopen("/dev/full", "w");
    REQUIRE(f);
    auto out = report::make_json_output(f, "/dev/full");
    CHECK_FALSE(out->broken());
    out->lost(1, {{"ringbuf_full", 1}});
    out->flush();
    REQUIRE(out->broken());
    CHECK(*out->broken() == "cannot write to /dev/full: No space left on device");
    std::fclose(f);
}

TEST_CASE("text output survives two live processes with one pid and a deep chain") {
    auto f = sample_finding("x");
    model::LiveProcess twin = f.live[0];  // a lost exit, then the pid reused by a child
    twin.ppid = twin.pid;
    f.live.push_back(twin);
    for (uint32_t i = 0; i < 2000; ++i) {  // a chain far deeper than any indentation
        model::LiveProcess p = f.live.back();
        p.ppid = p.pid;
        p.pid = 1000 + i;
        f.live.push_back(p);
    }
    model::LiveProcess orphan = f.live[0];  // a parent not listed: a `?` root, with its child
    orphan.pid = 9000;
    orphan.ppid = 8999;
    f.live.push_back(orphan);
    model::LiveProcess orphans_child = orphan;
    orphans_child.pid = 9001;
    orphans_child.ppid = 9000;
    f.live.push_back(orphans_child);

    const std::string out = capture([](std::FILE* file) { return report::make_text_output(file, false); },
                                    [&](report::Output& o) { o.finding(f, container("/")); });
    size_t lines = 0;
    for (char c : out) lines += c == '\n';
    CHECK(lines == 5 + f.live.size());  // header, container, init, one per process, diagnosis, blank
    CHECK(out.find("?  9000") != std::string::npos);
    CHECK(out.find("9001") != std::string::npos);
}
