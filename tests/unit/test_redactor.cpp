#include <catch2/catch.hpp>

#include "model/redactor.h"

using initwatch::model::ExecEvent;
using initwatch::model::Redactor;

TEST_CASE("redaction masks capture groups, or the whole match") {
    Redactor r({R"(--password=(\S+))", R"(ghp_[A-Za-z0-9]{8,})"});
    std::vector<std::string> argv{"app", "--password=hunter2", "--token", "ghp_abcdefgh1234", "--user=bob"};
    r.apply(argv);
    CHECK(argv == std::vector<std::string>{"app", "--password=***", "--token", "***", "--user=bob"});
}

TEST_CASE("every match in an argument is masked") {
    Redactor r({R"(key=(\w+))"});
    std::vector<std::string> argv{"key=a,key=bb,other=c"};
    r.apply(argv);
    CHECK(argv[0] == "key=***,key=***,other=c");
}

TEST_CASE("redaction reaches exec events before the model sees them") {
    Redactor r({R"(secret)"});
    initwatch::model::Event ev = ExecEvent{1, {}, 0, "/bin/secret", {"secret", "x"}, false};
    r.apply(ev);
    const auto& exec = std::get<ExecEvent>(ev);
    CHECK(exec.filename == "/bin/***");
    CHECK(exec.argv == std::vector<std::string>{"***", "x"});
}

TEST_CASE("an invalid pattern is rejected") { CHECK_THROWS_AS(Redactor({"(unclosed"}), std::regex_error); }

TEST_CASE("no patterns: nothing changes") {
    Redactor r({});
    CHECK(r.empty());
    std::vector<std::string> argv{"--password=x"};
    r.apply(argv);
    CHECK(argv[0] == "--password=x");
}

TEST_CASE("redacting a shared argv replaces it and leaves the other holders alone") {
    Redactor r({"--password=(\\S+)"});
    initwatch::model::Argv original{"app", "--password=hunter2"};
    initwatch::model::Argv held = original;
    r.apply(held);
    CHECK(held == std::vector<std::string>{"app", "--password=***"});
    CHECK(original == std::vector<std::string>{"app", "--password=hunter2"});
}
