#include "pipeline/queued_sink.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <variant>

namespace initwatch::pipeline {

namespace {

struct FindingItem {
    model::Finding finding;
    meta::FindingContext context;
};
struct LostItem {
    uint64_t ts_ns;
    LostCounts delta;
};
using Item = std::variant<FindingItem, LostItem>;

size_t optional_bytes(const std::optional<std::string>& s) { return s ? s->size() : 0; }

// How long a cancelled inner sink gets to return from its call.
constexpr std::chrono::milliseconds kCancelWait{1500};

size_t summary_bytes(const model::ProcessSummary& p) { return p.comm.size() + p.argv.bytes().size(); }

}  // namespace

// Shared with the worker thread, which outlives the sink when closing times out.
struct QueuedSink::State {
    std::unique_ptr<Sink> inner;
    Limits limits;
    mutable std::mutex mutex;
    std::condition_variable wake;     // the worker: an item or closing
    std::condition_variable stopped;  // the closer: the worker is done
    std::deque<std::pair<Item, size_t>> items;
    size_t bytes = 0;
    uint64_t dropped = 0;
    bool closing = false;
    bool done = false;

    void run() {
        std::unique_lock lock(mutex);
        for (;;) {
            wake.wait(lock, [&] { return closing || !items.empty(); });
            if (items.empty()) break;  // closing, and all delivered
            auto [item, cost] = std::move(items.front());
            items.pop_front();
            bytes -= cost;
            const bool last = items.empty();
            lock.unlock();
            if (auto* f = std::get_if<FindingItem>(&item))
                inner->finding(f->finding, f->context);
            else
                inner->lost(std::get<LostItem>(item).ts_ns, std::get<LostItem>(item).delta);
            if (last) inner->flush();
            lock.lock();
        }
        done = true;
        stopped.notify_all();
    }

    void push(Item item, size_t cost) {
        {
            std::lock_guard lock(mutex);
            if (items.size() >= limits.max_items || bytes + cost > limits.max_bytes) {
                ++dropped;
                return;
            }
            bytes += cost;
            items.emplace_back(std::move(item), cost);
        }
        wake.notify_one();
    }
};

QueuedSink::QueuedSink(std::unique_ptr<Sink> inner) : QueuedSink(std::move(inner), Limits{}) {}

QueuedSink::QueuedSink(std::unique_ptr<Sink> inner, Limits limits) : state_(std::make_shared<State>()) {
    state_->inner = std::move(inner);
    state_->limits = limits;
    std::thread([state = state_] { state->run(); }).detach();
}

QueuedSink::~QueuedSink() {
    std::unique_lock lock(state_->mutex);
    state_->closing = true;
    state_->wake.notify_one();
    // Delivered in time; else the inner sink is told to give up (its call in progress ends
    // within about a second), and past that the thread is left holding its state until its
    // call returns.
    if (state_->stopped.wait_for(lock, state_->limits.close_deadline, [&] { return state_->done; })) return;
    state_->items.clear();
    state_->bytes = 0;
    state_->inner->cancel();
    state_->stopped.wait_for(lock, kCancelWait, [&] { return state_->done; });
}

void QueuedSink::finding(const model::Finding& f, const meta::FindingContext& context) {
    state_->push(FindingItem{f, context}, approx_bytes(f, context));
}

void QueuedSink::lost(uint64_t ts_ns, const LostCounts& delta) {
    size_t cost = sizeof(LostItem);
    for (const auto& [reason, n] : delta) cost += reason.size() + sizeof(n);
    state_->push(LostItem{ts_ns, delta}, cost);
}

uint64_t QueuedSink::dropped() const {
    std::lock_guard lock(state_->mutex);
    return state_->dropped;
}

size_t QueuedSink::queued() const {
    std::lock_guard lock(state_->mutex);
    return state_->items.size();
}

size_t QueuedSink::approx_bytes(const model::Finding& f, const meta::FindingContext& context) {
    size_t n = sizeof(FindingItem) + f.diagnosis.size() + summary_bytes(f.init);
    for (const auto& p : f.live) n += sizeof(p) + summary_bytes(p) + p.chain.size() * sizeof(uint32_t);
    for (const auto& g : f.unlisted) n += sizeof(g) + g.comm.size();
    const meta::ContainerInfo& c = context.container;
    n += optional_bytes(c.cgroup_path) + optional_bytes(c.id) + optional_bytes(c.runtime) +
         optional_bytes(c.name);
    if (c.pod)
        n += optional_bytes(c.pod->name) + optional_bytes(c.pod->namespace_name) + optional_bytes(c.pod->uid);
    return n + context.node.size() + context.repeat.text.size();
}

}  // namespace initwatch::pipeline
