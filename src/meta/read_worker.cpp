#include "meta/read_worker.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

namespace initwatch::meta {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

struct ReadWorker::State {
    std::chrono::milliseconds deadline{0};
    size_t max_pending = 0;
    size_t max_queued_bytes = 0;

    mutable std::mutex mutex;
    std::condition_variable room;  // the queue of results has room again, or stop
    std::deque<Job> pending;
    std::deque<Result> done;
    size_t done_bytes = 0;
    struct InFlight {
        model::ProcKey key;
        Clock::time_point started;
    };
    std::optional<InFlight> in_flight;
    uint64_t generation = 0;  // the worker of this generation is the live one
    bool worker_running = false;
    bool stopping = false;
    size_t abandoned = 0;
    uint64_t timed_out = 0;

    void give_up(const model::ProcKey& key) {
        done.push_back(Result{key, {}, true});
        ++timed_out;
    }
};

ReadWorker::ReadWorker(std::chrono::milliseconds deadline, size_t max_pending, size_t max_queued_bytes)
    : state_(std::make_shared<State>()) {
    state_->deadline = deadline;
    state_->max_pending = max_pending;
    state_->max_queued_bytes = max_queued_bytes;
}

ReadWorker::~ReadWorker() {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stopping = true;
    state_->room.notify_all();
}

void ReadWorker::submit(std::vector<Job> jobs) {
    State& s = *state_;
    std::lock_guard<std::mutex> lock(s.mutex);
    for (Job& job : jobs) {
        // Reads hang here (given up at once), or too many wait already.
        if (s.abandoned >= kMaxAbandoned || s.pending.size() >= s.max_pending)
            s.give_up(job.key);
        else
            s.pending.push_back(std::move(job));
    }
    if (!s.worker_running && !s.pending.empty()) start_worker();
}

void ReadWorker::start_worker() {
    State& s = *state_;
    s.worker_running = true;
    std::thread(&ReadWorker::work, state_, s.generation).detach();
}

void ReadWorker::work(std::shared_ptr<State> state, uint64_t generation) {
    State& s = *state;
    std::unique_lock<std::mutex> lock(s.mutex);
    for (;;) {
        s.room.wait(lock, [&] {
            return s.stopping || s.generation != generation || s.done_bytes < s.max_queued_bytes;
        });
        if (s.stopping || s.generation != generation) return;
        if (s.pending.empty()) {
            s.worker_running = false;
            return;
        }
        Job job = std::move(s.pending.front());
        s.pending.pop_front();
        s.in_flight = State::InFlight{job.key, Clock::now()};
        lock.unlock();
        util::FileRead read = job.read();
        job.read = nullptr;  // what it holds (an fd) is released outside the lock
        lock.lock();
        if (s.generation != generation) return;  // abandoned meanwhile: someone else goes on
        s.in_flight.reset();
        s.done_bytes += read.data.capacity();
        s.done.push_back(Result{job.key, std::move(read), false});
    }
}

void ReadWorker::take(std::vector<Result>& out) {
    State& s = *state_;
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.in_flight && Clock::now() - s.in_flight->started > s.deadline) {
        s.give_up(s.in_flight->key);
        s.in_flight.reset();
        ++s.generation;  // the stuck worker's result, if it ever comes, is dropped
        ++s.abandoned;
        s.worker_running = false;
        if (s.abandoned >= kMaxAbandoned) {
            for (const Job& j : s.pending) s.give_up(j.key);
            s.pending.clear();
        } else if (!s.pending.empty()) {
            start_worker();
        }
    }
    for (auto& r : s.done) out.push_back(std::move(r));
    s.done.clear();
    s.done_bytes = 0;
    s.room.notify_all();
}

bool ReadWorker::idle() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->pending.empty() && !state_->in_flight && state_->done.empty();
}

uint64_t ReadWorker::timed_out() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->timed_out;
}

}  // namespace initwatch::meta
