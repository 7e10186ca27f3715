// The argv store: one block per exec record, shared by forks, counted in bytes.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "model/argv.h"

using initwatch::model::Argv;

TEST_CASE("4,095 bytes of empty arguments are one block of about 4 KiB") {
    const std::string nuls(4095, '\0');
    const size_t before = Argv::live_bytes();
    {
        const Argv a = Argv::from_bytes(nuls);
        CHECK(a.size() == 4095);  // the kernel's trailing NUL ends the last one
        CHECK(a.allocated_bytes() < 4095 + 64);
        CHECK(Argv::live_bytes() - before == a.allocated_bytes());
        size_t n = 0;
        for (std::string_view arg : a) {
            CHECK(arg.empty());
            ++n;
        }
        CHECK(n == 4095);
    }
    CHECK(Argv::live_bytes() == before);
}

TEST_CASE("copies share the block and count it once") {
    const size_t before = Argv::live_bytes();
    Argv a{"sleep", "3600"};
    const size_t one = Argv::live_bytes() - before;
    std::vector<Argv> forks(1000, a);
    CHECK(Argv::live_bytes() - before == one);
    CHECK(forks.back().shares_with(a));
    CHECK(forks.back() == std::vector<std::string>{"sleep", "3600"});
    forks.clear();
    a = Argv();
    CHECK(Argv::live_bytes() == before);
}

TEST_CASE("arguments read back as the kernel laid them out") {
    const Argv a = Argv::from_bytes(std::string_view("sh\0-c\0\0echo hi\0", 15));
    CHECK(a.vector() == std::vector<std::string>{"sh", "-c", "", "echo hi"});
    CHECK(a.bytes() == std::string_view("sh\0-c\0\0echo hi", 14));
    CHECK(a.front() == "sh");
    CHECK(Argv{"sh", "-c", "", "echo hi"} == a);
    CHECK_FALSE(Argv{"sh", "-c"} == a);
    CHECK(Argv().empty());
    CHECK(Argv().size() == 0);
    CHECK(Argv().begin() == Argv().end());
    CHECK(Argv{""}.size() == 1);
    CHECK_FALSE(Argv{""}.empty());
}

TEST_CASE("a prefix keeps the first bytes, and is the same block when short enough") {
    const Argv a{"node", std::string(4000, 'x')};
    const Argv p = a.prefix(10);
    CHECK(p.bytes().size() <= 10);
    CHECK(p.vector() == std::vector<std::string>{"node", "xxxxx"});
    CHECK(a.prefix(5000).shares_with(a));
}
