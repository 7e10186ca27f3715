#include <catch2/catch.hpp>
#include <csignal>

#include "model/exit_status.h"
#include "model/finding.h"

using initwatch::model::ExitStatus;
using initwatch::model::Severity;
using initwatch::model::severity_of;

TEST_CASE("exit status 0 is a value, not an absence") {
    const auto s = ExitStatus::decode(0);
    REQUIRE(s.exit_code.has_value());
    CHECK(*s.exit_code == 0);
    CHECK_FALSE(s.signal.has_value());
    CHECK_FALSE(s.core_dumped);
    CHECK(s.describe() == "exit 0");
    CHECK(s.shell_status() == 0);
}

TEST_CASE("exit value lives in bits 15..8") {
    const auto s = ExitStatus::decode(42 << 8);
    CHECK(s.exit_code == 42);
    CHECK(s.shell_status() == 42);
    CHECK(ExitStatus::decode(255 << 8).exit_code == 255);
}

TEST_CASE("a terminating signal lives in bits 6..0, the core flag in bit 7") {
    const auto killed = ExitStatus::decode(SIGKILL);
    CHECK_FALSE(killed.exit_code.has_value());
    CHECK(killed.signal == SIGKILL);
    CHECK_FALSE(killed.core_dumped);
    CHECK(killed.describe() == "SIGKILL");
    CHECK(killed.shell_status() == 137);

    const auto segv = ExitStatus::decode(SIGSEGV | 0x80);
    CHECK(segv.signal == SIGSEGV);
    CHECK(segv.core_dumped);
    CHECK(segv.describe() == "SIGSEGV (core dumped)");
}

TEST_CASE("severity: exiting on its own warns, a stop informs, a crash is an error") {
    CHECK(severity_of(ExitStatus::decode(0)) == Severity::warning);
    CHECK(severity_of(ExitStatus::decode(1 << 8)) == Severity::warning);
    CHECK(severity_of(ExitStatus::decode(SIGTERM)) == Severity::info);
    CHECK(severity_of(ExitStatus::decode(SIGINT)) == Severity::info);
    CHECK(severity_of(ExitStatus::decode(SIGKILL)) == Severity::info);
    CHECK(severity_of(ExitStatus::decode(SIGSEGV | 0x80)) == Severity::error);
    CHECK(severity_of(ExitStatus::decode(SIGABRT)) == Severity::error);
}
