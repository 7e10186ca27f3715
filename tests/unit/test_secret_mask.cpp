// Issue 26: a background `sh -c '... --db-password=hunter2 &'` put `--db-password=hunter2`
// into the Event's note and the termination message, readable with `get events`/`get pods`.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "k8s/note.h"
#include "k8s/secret_mask.h"

using namespace initwatch;
using Strings = std::vector<std::string>;

namespace {

const Strings kSecrets = {"hunter2", "s3cr3t-tok", "AKIAEXAMPLE", "pa55w0rd", "ghp_abc123", "letmein"};

model::Finding finding_with_secrets() {
    model::Finding f;
    f.severity = model::Severity::warning;
    f.init.comm = "sh";
    f.init.argv = model::Argv{"sh", "-c", "server --db-password=hunter2 --api-token s3cr3t-tok & exit 0"};
    f.init.status = model::ExitStatus::decode(0);
    model::LiveProcess server;
    server.comm = "server";
    server.argv = model::Argv{"server",
                              "--db-password=hunter2",
                              "--token",
                              "s3cr3t-tok",
                              "AWS_SECRET_ACCESS_KEY=AKIAEXAMPLE",
                              "--url=postgres://app:pa55w0rd@db:5432/x",
                              "https://ghp_abc123@github.com/o/r",
                              "--secret",
                              "letmein",
                              "--port",
                              "8080"};
    server.how = model::How::background;
    server.source =
        model::SourceLine{std::nullopt, 1, "server --db-password=hunter2 --api-token s3cr3t-tok &",
                          "exec server --db-password=hunter2 --api-token s3cr3t-tok"};
    f.live = {server};
    f.live_count = 1;
    f.diagnosis = model::diagnose(f);
    return f;
}

std::string leaked(const std::string& text) {
    for (const auto& s : kSecrets)
        if (text.find(s) != std::string::npos) return s;
    return "";
}

struct Recorder : pipeline::Sink {
    std::vector<model::Finding> findings;
    void finding(const model::Finding& f, const meta::FindingContext&) override { findings.push_back(f); }
};

}  // namespace

TEST_CASE("the cluster's copy of a finding masks flag values, *_KEY= and URL credentials") {
    const model::Finding f = finding_with_secrets();
    REQUIRE(leaked(k8s::finding_note(f, 4096)) != "");  // what the note said before
    const model::Finding masked = k8s::SecretMask().apply(f);
    const std::string note = k8s::finding_note(masked, 4096);
    INFO(note);
    CHECK(leaked(note) == "");
    CHECK(leaked(masked.diagnosis) == "");
    CHECK(leaked(masked.live[0].source->text + masked.live[0].source->suggestion) == "");
    CHECK(masked.live[0].argv == Strings{"server", "--db-password=***", "--token", "***",
                                         "AWS_SECRET_ACCESS_KEY=***", "--url=postgres://***@db:5432/x",
                                         "https://***@github.com/o/r", "--secret", "***", "--port", "8080"});
    CHECK(masked.init.argv == Strings{"sh", "-c", "server --db-password=*** --api-token *** & exit 0"});
    // What is no secret stays readable.
    CHECK(note.find("--port 8080") != std::string::npos);
    CHECK(f.live[0].argv.vector()[1] == "--db-password=hunter2");  // the node's own copy is untouched
}

TEST_CASE("a masking sink hands its inner sink the masked finding, the others get it whole") {
    auto recorder = std::make_unique<Recorder>();
    Recorder* inner = recorder.get();
    k8s::SecretMaskingSink sink(std::move(recorder));
    const model::Finding f = finding_with_secrets();
    sink.finding(f, meta::FindingContext{});
    REQUIRE(inner->findings.size() == 1);
    CHECK(leaked(k8s::finding_note(inner->findings[0], 4096)) == "");
    CHECK(f.live[0].argv.vector()[3] == "s3cr3t-tok");
}

TEST_CASE("ordinary command lines pass unmasked") {
    model::Finding f;
    f.init.argv =
        model::Argv{"nginx", "-g", "daemon off;", "--keyfile", "/etc/k.pem", "KEYBOARD=us", "http://host/p"};
    const model::Finding masked = k8s::SecretMask().apply(f);
    CHECK(masked.init.argv == f.init.argv);
}
