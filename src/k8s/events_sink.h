// Findings as Warning Events (events.k8s.io/v1) on their Pod, where `kubectl describe pod`
// shows them. Runs behind a QueuedSink: its calls may wait on the network.
//
// As client-go's event recorder does: the same finding on the same pod container again
// updates the Event's series (PATCH) rather than making a new object; a per-object spam
// filter (a burst, then one per interval); failed writes retried with backoff on 429, 5xx
// and network errors; a finding without a pod (or without its uid: the Event would not show
// under the pod) makes no Event.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "k8s/api_client.h"
#include "k8s/spam_filter.h"
#include "pipeline/sink.h"
#include "report/clock.h"

namespace initwatch::k8s {

inline constexpr const char* kReportingController = "initwatch.io/initwatch";

struct EventsOptions {
    size_t spam_burst = 25;                        // Events per pod before the filter holds
    std::chrono::seconds spam_refill{300};         // then one per this long
    size_t max_tries = 5;                          // per write
    std::chrono::milliseconds first_backoff{250};  // doubled per try
    std::chrono::milliseconds max_backoff{5000};
    size_t max_tracked = 4096;  // series and spam records kept (oldest go)
};

// What became of a finding: created, patched, filtered (spam), no_pod, failed (gave up).
using ResultCallback = std::function<void(std::string_view result)>;

// The Event's JSON for a finding about a pod, its reason and note made (exposed for tests).
std::string event_json(const meta::FindingContext& context, const std::string& name,
                       const std::string& event_time, const std::string& reason, const std::string& action,
                       const std::string& note);

class EventsSink final : public pipeline::Sink {
public:
    EventsSink(ClusterConfig config, EventsOptions options, ResultCallback on_result);

    void finding(const model::Finding& f, const meta::FindingContext& context) override;
    // The request in progress is aborted, no retry follows, and no result is reported.
    void cancel() override {
        cancelled_.store(true);
        client_.cancel();
    }

private:
    struct Series {
        std::string name;  // the Event object's
        std::string namespace_name;
        uint32_t count = 1;
        std::list<std::string>::iterator lru;
    };
    // Sends with retries; the final response (status 0: no answer).
    Response send(const std::string& method, const std::string& path, const std::string& body,
                  const std::string& content_type);
    void result(std::string_view what);
    void log_once(const std::string& what);

    ApiClient client_;
    EventsOptions options_;
    ResultCallback on_result_;
    report::WallClock clock_;
    std::unordered_map<std::string, Series> series_;  // by pod, container, reason and note
    std::list<std::string> series_lru_;
    SpamFilter spam_;  // by pod uid
    std::unordered_map<std::string, bool> logged_;
    uint64_t names_made_ = 0;
    std::atomic<bool> cancelled_{false};
};

}  // namespace initwatch::k8s
