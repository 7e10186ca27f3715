// Reads that hang (a dead FUSE mount behind argv or a script) never hold the event loop: here a
// read that waits on a latch the test releases at the end stands for such a read.
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "meta/read_worker.h"

using namespace initwatch;
using namespace std::chrono_literals;
using meta::ReadWorker;

namespace {

// Holds every read that waits on it until release(); released at the latest when it goes.
class Latch {
public:
    ~Latch() { release(); }
    void wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait_for(lock, 30s, [&] { return open_; });
    }
    void release() {
        std::lock_guard<std::mutex> lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

ReadWorker::Job job(uint32_t pid, std::string text) {
    return {{pid, 1}, [text] {
                util::FileRead r;
                r.data = text;
                return r;
            }};
}

ReadWorker::Job hanging(uint32_t pid, const std::shared_ptr<Latch>& latch) {
    return {{pid, 1}, [latch] {
                latch->wait();
                return util::FileRead{};
            }};
}

std::map<uint32_t, ReadWorker::Result> take_all(ReadWorker& reader, std::chrono::seconds bound) {
    std::map<uint32_t, ReadWorker::Result> got;
    const auto until = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < until) {
        std::vector<ReadWorker::Result> out;
        reader.take(out);
        for (auto& r : out) got[r.key.tgid] = std::move(r);
        if (reader.idle()) break;
        std::this_thread::sleep_for(10ms);
    }
    return got;
}

}  // namespace

TEST_CASE("a hanging read times out and the reads after it still come") {
    auto latch = std::make_shared<Latch>();
    const auto started = std::chrono::steady_clock::now();
    {
        ReadWorker reader(200ms);
        std::vector<ReadWorker::Job> jobs;
        jobs.push_back(job(10, "sh"));
        jobs.push_back(hanging(11, latch));
        jobs.push_back(job(12, "sleep"));
        reader.submit(std::move(jobs));
        auto got = take_all(reader, 5s);
        CHECK(reader.idle());
        REQUIRE(got.size() == 3);
        CHECK(got[10].read.data == "sh");
        CHECK(got[11].timed_out);
        CHECK(got[11].read.data.empty());
        CHECK(got[12].read.data == "sleep");
        CHECK(reader.timed_out() == 1);
    }
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    latch->release();
}

TEST_CASE("after several hanging reads the reader gives up on the rest, and on later jobs, at once") {
    auto latch = std::make_shared<Latch>();
    ReadWorker reader(100ms);
    std::vector<ReadWorker::Job> jobs;
    for (uint32_t pid = 20; pid < 20 + ReadWorker::kMaxAbandoned + 3; ++pid)
        jobs.push_back(hanging(pid, latch));
    const size_t submitted = jobs.size();
    reader.submit(std::move(jobs));
    auto got = take_all(reader, 5s);
    CHECK(reader.idle());
    CHECK(got.size() == submitted);
    for (auto& [pid, r] : got) CHECK(r.timed_out);

    std::vector<ReadWorker::Job> later;
    later.push_back(job(99, "never read"));
    reader.submit(std::move(later));
    got = take_all(reader, 1s);
    REQUIRE(got.count(99));
    CHECK(got[99].timed_out);
    latch->release();
}

TEST_CASE("jobs past the pending bound are given up, not queued") {
    auto latch = std::make_shared<Latch>();
    ReadWorker reader(5s, 2);
    std::vector<ReadWorker::Job> jobs;
    jobs.push_back(hanging(1, latch));  // the worker takes it: the queue is empty again
    reader.submit(std::move(jobs));
    std::this_thread::sleep_for(100ms);
    std::vector<ReadWorker::Job> more;
    for (uint32_t pid = 2; pid <= 5; ++pid) more.push_back(job(pid, "x"));
    reader.submit(std::move(more));
    std::vector<ReadWorker::Result> out;
    reader.take(out);
    REQUIRE(out.size() == 2);  // 4 and 5: 2 and 3 wait
    for (const auto& r : out) CHECK(r.timed_out);
    latch->release();
    auto got = take_all(reader, 5s);
    CHECK(got[2].read.data == "x");
    CHECK(got[3].read.data == "x");
    CHECK(reader.timed_out() == 2);
}
