#include "meta/cmdline_reader.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "meta/proc.h"

namespace initwatch::meta {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

struct CmdlineReader::State {
    size_t max_bytes = 0;
    std::chrono::milliseconds deadline{0};
    std::string proc_root;

    mutable std::mutex mutex;
    std::condition_variable room;   // the queue of results has room again, or stop
    std::deque<Request> pending;
    std::deque<Result> done;
    size_t done_bytes = 0;
    struct InFlight {
        Request request;
        Clock::time_point started;
    };
    std::optional<InFlight> in_flight;
    uint64_t generation = 0;  // the worker of this generation is the live one
    bool worker_running = false;
    bool stopping = false;
    size_t abandoned = 0;
    uint64_t timed_out = 0;
};

CmdlineReader::CmdlineReader(size_t max_bytes, std::chrono::milliseconds deadline, std::string proc_root)
    : state_(std::make_shared<State>()) {
    state_->max_bytes = max_bytes;
    state_->deadline = deadline;
    state_->proc_root = std::move(proc_root);
}

CmdlineReader::~CmdlineReader() {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stopping = true;
    state_->room.notify_all();
}

void CmdlineReader::submit(std::vector<Request> requests) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->abandoned >= kMaxAbandoned) {  // reads hang here: give up at once
        for (const Request& r : requests) state_->done.push_back(Result{r.key, {}, false, true});
        state_->timed_out += requests.size();
        return;
    }
    state_->pending.insert(state_->pending.end(), requests.begin(), requests.end());
    if (!state_->worker_running && !state_->pending.empty()) start_worker();
}

void CmdlineReader::start_worker() {
    State& s = *state_;
    s.worker_running = true;
    std::thread(&CmdlineReader::work, state_, s.generation).detach();
}

void CmdlineReader::work(std::shared_ptr<State> state, uint64_t generation) {
    State& s = *state;
    std::unique_lock<std::mutex> lock(s.mutex);
    for (;;) {
        s.room.wait(lock, [&] { return s.stopping || s.generation != generation || s.done_bytes < kMaxQueuedBytes; });
        if (s.stopping || s.generation != generation) return;
        if (s.pending.empty()) {
            s.worker_running = false;
            return;
        }
        const Request request = s.pending.front();
        s.pending.pop_front();
        s.in_flight = State::InFlight{request, Clock::now()};
        lock.unlock();
        bool truncated = false;
        model::Argv argv = read_cmdline(request.pid, s.max_bytes, truncated, s.proc_root);
        lock.lock();
        if (s.generation != generation) return;  // abandoned meanwhile: someone else goes on
        s.in_flight.reset();
        s.done_bytes += argv.allocated_bytes();
        s.done.push_back(Result{request.key, std::move(argv), truncated, false});
    }
}

void CmdlineReader::take(std::vector<Result>& out) {
    State& s = *state_;
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.in_flight && Clock::now() - s.in_flight->started > s.deadline) {
        s.done.push_back(Result{s.in_flight->request.key, {}, false, true});
        ++s.timed_out;
        s.in_flight.reset();
        ++s.generation;  // the stuck worker's result, if it ever comes, is dropped
        ++s.abandoned;
        s.worker_running = false;
        if (s.abandoned >= kMaxAbandoned) {
            for (const Request& r : s.pending) s.done.push_back(Result{r.key, {}, false, true});
            s.timed_out += s.pending.size();
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

bool CmdlineReader::idle() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->pending.empty() && !state_->in_flight && state_->done.empty();
}

uint64_t CmdlineReader::timed_out() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->timed_out;
}

}  // namespace initwatch::meta
