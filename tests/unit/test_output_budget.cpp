// One container's output budget: findings over it are counted and summed up, never written one
// by one, and never at another container's expense.
#include <catch2/catch.hpp>

#include "pipeline/output_budget.h"

using namespace initwatch;
using pipeline::OutputBudget;

namespace {

constexpr uint64_t kSecond = 1'000'000'000ULL;

model::Finding finding_in(uint32_t container_init, size_t listed = 1, size_t argv_bytes = 10) {
    model::Finding f;
    f.origin = model::ProcKey{container_init, 1};
    f.live_count = listed;
    for (size_t i = 0; i < listed; ++i) {
        model::LiveProcess p;
        p.comm = "sleep";
        p.argv = model::Argv({std::string(argv_bytes, 'a')});
        f.live.push_back(p);
    }
    return f;
}

meta::FindingContext named(const std::string& id) {
    meta::FindingContext c;
    c.container.id = id;
    return c;
}

}  // namespace

TEST_CASE("a container's findings past its burst are suppressed; another container's are not") {
    OutputBudget budget;
    std::vector<OutputBudget::Summary> due;
    uint64_t now = kSecond;
    for (int i = 0; i < 10; ++i) CHECK(budget.admit(finding_in(100), named("a"), now, due));
    CHECK_FALSE(budget.admit(finding_in(100), named("a"), now, due));
    CHECK_FALSE(budget.admit(finding_in(100), named("a"), now, due));
    CHECK(budget.admit(finding_in(200), named("b"), now, due));  // its own budget
    CHECK(budget.suppressed() == 2);
    CHECK(due.empty());

    SECTION("within its budget again, what it missed is summed up first") {
        now += 6 * kSecond;  // one finding's worth
        CHECK(budget.admit(finding_in(100), named("a"), now, due));
        REQUIRE(due.size() == 1);
        CHECK(due[0].suppressed == 2);
        CHECK(due[0].first_ns == kSecond);
        CHECK(due[0].context.container.id == "a");
    }
    SECTION("a container that stays over it is summed up a minute after its first suppressed finding") {
        budget.take_due(now + 59 * kSecond, due);
        CHECK(due.empty());
        budget.take_due(now + 60 * kSecond, due);
        REQUIRE(due.size() == 1);
        CHECK(due[0].suppressed == 2);
        budget.take_due(now + 120 * kSecond, due);
        CHECK(due.size() == 1);  // once
    }
}

TEST_CASE("the bytes of a container's findings count too: a few huge ones use up its budget") {
    OutputBudget budget;
    std::vector<OutputBudget::Summary> due;
    // 200 processes of 4 KiB argv: about 1.7 MiB by the estimate, more than the burst of 1 MiB;
    // its JSON line stops at 1 MiB, so it is charged the burst: a container's first finding
    // always passes (a kernel test once lost one so), and spends the container's bytes.
    const auto huge = finding_in(100, 200, 4096);
    CHECK(model::approximate_output_bytes(huge) > (1u << 20));
    CHECK(budget.admit(huge, named("a"), kSecond, due));
    const auto large = finding_in(100, 100, 4096);  // about 0.9 MiB
    CHECK_FALSE(budget.admit(large, named("a"), kSecond, due));
    CHECK_FALSE(budget.admit(finding_in(100), named("a"), kSecond, due));       // spent
    CHECK(budget.admit(finding_in(100), named("a"), 2 * kSecond, due));         // 16 KiB a second back
    CHECK(budget.admit(finding_in(200, 100, 4096), named("b"), kSecond, due));  // another container: its own
}

TEST_CASE("budgets are kept for a bounded number of containers; the one forgotten is summed up") {
    pipeline::OutputBudgetLimits limits;
    limits.max_containers = 3;
    limits.burst_findings = 1;
    OutputBudget budget(limits);
    std::vector<OutputBudget::Summary> due;
    CHECK(budget.admit(finding_in(1), named("1"), kSecond, due));
    CHECK_FALSE(budget.admit(finding_in(1), named("1"), kSecond, due));
    CHECK(budget.admit(finding_in(2), named("2"), kSecond, due));
    CHECK(budget.admit(finding_in(3), named("3"), kSecond, due));
    CHECK(due.empty());
    CHECK(budget.admit(finding_in(4), named("4"), kSecond, due));  // 1 goes, said
    REQUIRE(due.size() == 1);
    CHECK(due[0].context.container.id == "1");
    CHECK(due[0].suppressed == 1);
}

TEST_CASE("a container without a namespace of its own is budgeted by its cgroup") {
    OutputBudget budget;
    std::vector<OutputBudget::Summary> due;
    model::Finding a, b;
    a.cgroup_id = 10;
    b.cgroup_id = 11;
    for (int i = 0; i < 10; ++i) CHECK(budget.admit(a, named("a"), kSecond, due));
    CHECK_FALSE(budget.admit(a, named("a"), kSecond, due));
    CHECK(budget.admit(b, named("b"), kSecond, due));
}
