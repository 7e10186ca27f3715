// A sink that may be slow (a network API) behind a bounded queue on a thread of its own:
// the pipeline's calls copy and return, a full queue drops and counts, and closing waits a
// bounded time for what is queued, then leaves the thread to finish on its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "pipeline/sink.h"

namespace initwatch::pipeline {

class QueuedSink : public Sink {
public:
    struct Limits {
        size_t max_items = 256;
        size_t max_bytes = size_t{8} << 20;  // the queued findings' size, approximately
        std::chrono::milliseconds close_deadline{2000};
    };

    explicit QueuedSink(std::unique_ptr<Sink> inner);
    QueuedSink(std::unique_ptr<Sink> inner, Limits limits);
    ~QueuedSink() override;
    QueuedSink(const QueuedSink&) = delete;
    QueuedSink& operator=(const QueuedSink&) = delete;

    void finding(const model::Finding& f, const meta::FindingContext& context) override;
    void lost(uint64_t ts_ns, const LostCounts& delta) override;
    bool may_drop() const override { return true; }
    uint64_t dropped() const override;

    // Items waiting for the inner sink (for tests and metrics).
    size_t queued() const;

    // What a finding costs in the queue: the copy and the strings it owns (argv blocks are
    // shared with the model, counted once each here all the same).
    static size_t approx_bytes(const model::Finding& f, const meta::FindingContext& context);

private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace initwatch::pipeline
