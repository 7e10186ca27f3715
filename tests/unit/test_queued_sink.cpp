// The queue in front of a slow sink: the pipeline's thread never waits on it, a full queue
// drops and counts, and closing is bounded even when the sink hangs.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "pipeline/queued_sink.h"

using namespace initwatch;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A sink whose calls block until released, as a network call to a hanging server would.
struct Gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    std::atomic<int> findings{0};
    std::atomic<int> lost{0};
    std::atomic<int> flushes{0};
    std::atomic<int> entered{0};  // calls that reached the sink (and may be waiting)
    std::atomic<bool> cancelled{false};

    void release() {
        {
            std::lock_guard lock(mutex);
            open = true;
        }
        cv.notify_all();
    }
    void pass() {
        ++entered;
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return open; });
    }
};

class GatedSink final : public pipeline::Sink {
public:
    explicit GatedSink(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
    void finding(const model::Finding&, const meta::FindingContext&) override {
        gate_->pass();
        ++gate_->findings;
    }
    void lost(uint64_t, const pipeline::LostCounts&) override {
        gate_->pass();
        ++gate_->lost;
    }
    void flush() override { ++gate_->flushes; }
    void cancel() override { gate_->cancelled = true; }  // a hung call that ignores it

private:
    std::shared_ptr<Gate> gate_;
};

model::Finding finding_with(size_t live) {
    model::Finding f;
    f.init.comm = "sh";
    f.init.argv = model::Argv{"sh", "/startup.sh"};
    f.live.resize(live);
    for (auto& p : f.live) p.argv = model::Argv{"sleep", "3600"};
    f.live_count = live;
    return f;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = 2000ms) {
    const auto deadline = Clock::now() + within;
    while (!pred()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace

TEST_CASE("findings reach the sink in order, and a flush follows an empty queue") {
    auto gate = std::make_shared<Gate>();
    gate->release();
    pipeline::QueuedSink queued(std::make_unique<GatedSink>(gate));
    for (int i = 0; i < 10; ++i) queued.finding(finding_with(1), {});
    queued.lost(1, {{"ringbuf_full", 3}});
    REQUIRE(eventually([&] { return gate->findings == 10 && gate->lost == 1; }));
    CHECK(eventually([&] { return gate->flushes >= 1; }));
    CHECK(queued.dropped() == 0);
}

TEST_CASE("a hanging sink never blocks the caller: the queue fills, then drops are counted") {
    auto gate = std::make_shared<Gate>();
    pipeline::QueuedSink::Limits limits;
    limits.max_items = 8;
    limits.close_deadline = 100ms;
    auto queued = std::make_unique<pipeline::QueuedSink>(std::make_unique<GatedSink>(gate), limits);
    const auto start = Clock::now();
    queued->finding(finding_with(1), {});
    REQUIRE(eventually([&] { return gate->entered == 1; }));  // in the sink's hands, for good
    for (int i = 1; i < 100; ++i) queued->finding(finding_with(1), {});
    CHECK(Clock::now() - start < 1s);  // 100 calls on a sink that never returns
    // One is in the sink's hands, eight wait: the rest were dropped.
    CHECK(queued->dropped() == 91);
    CHECK(queued->queued() == 8);

    // Closing waits its deadline, then tells the sink to give up and waits a little more, not
    // for the hung call.
    const auto closing = Clock::now();
    queued.reset();
    CHECK(Clock::now() - closing < 2500ms);
    CHECK(gate->cancelled);
    gate->release();  // the abandoned thread finishes on its own
    CHECK(eventually([&] { return gate->findings >= 1; }));
}

TEST_CASE("the byte bound holds large findings back as the count bound holds many") {
    auto gate = std::make_shared<Gate>();
    const model::Finding big = finding_with(200);
    const size_t cost = pipeline::QueuedSink::approx_bytes(big, {});
    CHECK(cost > 200 * sizeof(model::LiveProcess));
    pipeline::QueuedSink::Limits limits;
    limits.max_bytes = 3 * cost + cost / 2;  // three fit
    limits.close_deadline = 100ms;
    {
        pipeline::QueuedSink queued(std::make_unique<GatedSink>(gate), limits);
        queued.finding(big, {});
        REQUIRE(eventually([&] { return gate->entered == 1; }));  // the first is in the sink
        for (int i = 0; i < 10; ++i) queued.finding(big, {});
        CHECK(queued.queued() == 3);
        CHECK(queued.dropped() == 7);
        gate->release();
        REQUIRE(eventually([&] { return gate->findings == 4; }));
    }
}

TEST_CASE("closing delivers what is queued when the sink keeps up") {
    auto gate = std::make_shared<Gate>();
    {
        pipeline::QueuedSink queued(std::make_unique<GatedSink>(gate));
        for (int i = 0; i < 50; ++i) queued.finding(finding_with(2), {});
        gate->release();
    }
    CHECK(gate->findings == 50);
}
