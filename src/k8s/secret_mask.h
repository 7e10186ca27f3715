// What the cluster sees of a finding (an Event's note, a termination message) is readable by
// anyone who may `get events` or `get pods` (the built-in `view` role), not only by those who
// may read the node's log: so values that look like secrets are masked there by default,
// whatever --redact says. The node's own output (text, JSON) keeps what the operator chose.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/finding.h"
#include "model/redactor.h"
#include "pipeline/sink.h"

namespace initwatch::k8s {

// The built-in patterns (model::Redactor syntax), for the docs and the tests: the value of
// `--password=V`, `--db-token V`, `API_KEY=V`, `client_secret=V`, and the user information of
// `scheme://user:password@host`.
const std::vector<std::string>& secret_mask_patterns();
const std::vector<std::string>& secret_flag_patterns();  // the next argument is the value

// The finding with every command line it holds (init, entrypoint, worker, left-behind
// processes, who started them, the script lines) and its diagnosis masked.
class SecretMask {
public:
    SecretMask();
    model::Finding apply(model::Finding f) const;

private:
    void apply(model::ProcessSummary& p) const;
    model::Redactor redactor_;
};

// Hands `inner` each finding masked by SecretMask; everything else passes through.
class SecretMaskingSink : public pipeline::Sink {
public:
    explicit SecretMaskingSink(std::unique_ptr<pipeline::Sink> inner) : inner_(std::move(inner)) {}

    void finding(const model::Finding& f, const meta::FindingContext& context) override {
        inner_->finding(mask_.apply(f), context);
    }
    bool wants_events() const override { return inner_->wants_events(); }
    void event(const model::Event& e, const model::ProcessSummary* known) override {
        inner_->event(e, known);
    }
    void events_counted(const pipeline::EventCounts& totals) override { inner_->events_counted(totals); }
    void lost(uint64_t ts_ns, const pipeline::LostCounts& delta) override { inner_->lost(ts_ns, delta); }
    void suppressed(uint64_t ts_ns, const meta::FindingContext& context, uint64_t count,
                    uint64_t first_ns) override {
        inner_->suppressed(ts_ns, context, count, first_ns);
    }
    bool takes_every_finding() const override { return inner_->takes_every_finding(); }
    void stats(const pipeline::Stats& totals) override { inner_->stats(totals); }
    void flush() override { inner_->flush(); }
    std::optional<std::string> broken() const override { return inner_->broken(); }
    bool may_drop() const override { return inner_->may_drop(); }
    uint64_t dropped() const override { return inner_->dropped(); }
    void cancel() override { inner_->cancel(); }

private:
    SecretMask mask_;
    std::unique_ptr<pipeline::Sink> inner_;
};

}  // namespace initwatch::k8s
