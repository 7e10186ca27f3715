// Findings as Warning Events (events.k8s.io/v1) on their Pod, where `kubectl describe pod`
// shows them. Runs behind a QueuedSink: its calls may wait on the network.
//
// As client-go's event recorder does: the same failure of the same pod container again
// updates the Event's series (a PATCH of series.count and lastObservedTime only: reason and
// note stay, as current API servers require) rather than making a new object; a per-object
// spam filter (a burst, then one per interval); failed writes retried with backoff on 429,
// 5xx and network errors; a finding without a pod (or without its uid: the Event would not
// show under the pod) makes no Event.
//
// The series outlives what the agent or the API server forgets, with nothing but the
// `create` and `patch` rights of the shipped ClusterRole (no `get` or `list`: reading every
// namespace's Events is not the agent's business):
//   - its Event has a name made from the failure (series_key), the same in every run of the
//     agent: a restarted agent's create of it is refused as AlreadyExists, and an empty
//     merge patch (`patch` right only) answers the stored Event, whose count goes on;
//   - an Event gone (deleted, or expired: the API server keeps Events an hour) makes the
//     PATCH a 404: it is counted (`recreated`) and the Event made again, its series.count
//     and first time carried on;
//   - a 403 on PATCH (a role that grants `create` only) makes each repeat a new Event with
//     the count in its note ("(x3 over 10s)") and its series, said once in the log; PATCH is
//     tried again after `patch_retry`.
// A refusal is logged with the API server's own message (its Status object), each kind of
// refusal (HTTP status and Status reason) at most once per `log_interval`, the repeats
// meanwhile counted in the next line; the metric counts every one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
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
    size_t max_tracked = 4096;               // series and spam records kept (oldest go)
    std::chrono::seconds log_interval{600};  // a kind of refusal logged at most this often
    std::chrono::seconds patch_retry{600};   // after a 403 on PATCH, repeats are new Events this long
};

// What became of a finding: created, patched (the series of the same failure again),
// recreated (its Event was gone: made again with the count carried on), fallback (PATCH
// forbidden: a new Event with the count in its note), filtered (spam), no_pod, failed
// (refused, or given up after retries).
using ResultCallback = std::function<void(std::string_view result)>;

// The Event's JSON for a finding about a pod, its reason and note made (exposed for tests).
// `series_count` >= 2 adds the series (count, lastObservedTime `series_time`).
std::string event_json(const meta::FindingContext& context, const std::string& name,
                       const std::string& event_time, const std::string& reason, const std::string& action,
                       const std::string& note, uint32_t series_count = 0,
                       const std::string& series_time = "");

// What makes two findings the same failure, in every run of the container and of the agent:
// the pod (uid), the container, the Event's reason, init's command and how it ended (and its
// entrypoint's, behind an init shim; the worker's, for a worker_exit), and the set of the
// programs (comm) left running, sorted and each once: never their order, number, pids or
// arguments, which change from run to run, nor the note, which lists as many as fit.
std::string series_key(const model::Finding& f, const meta::FindingContext& context);
// The Event's name for a series: the pod's name, '.', 16 hex digits of the key's hash (FNV-1a):
// a DNS subdomain of at most 253 characters, the same for the same failure in every run.
std::string series_event_name(const std::string& pod, const std::string& key);

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
        std::string name;        // the Event object's (a fallback's newest Event: another name)
        std::string event_time;  // the first observation, RFC 3339 with microseconds
        uint64_t first_ns = 0;   // the same, CLOCK_REALTIME
        uint32_t count = 1;      // observations so far
        std::list<std::string>::iterator lru;
    };
    // One finding's request context.
    struct Write {
        const model::Finding& finding;
        const meta::FindingContext& context;
        std::string ns, pod, key, reason, note, now;
        uint64_t now_ns = 0;  // CLOCK_REALTIME
    };

    // The first finding of a series this agent knows of.
    std::string_view first(const Write& w);
    // A repeat of a series this agent knows of.
    std::string_view repeat(const Write& w, Series& s);
    // The Event named `name` exists (a create was refused with 409): its series goes on if it
    // is this failure's. Empty when it is not (then a new Event is needed).
    std::string_view adopt(const Write& w, const std::string& name);
    // A repeat as a new Event, the count in its note (PATCH forbidden).
    std::string_view fallback(const Write& w, Series& s);
    Series& remember(const std::string& key, Series s);

    Response post(const Write& w, const std::string& name, const std::string& event_time,
                  const std::string& note, uint32_t series_count);
    Response patch(const std::string& ns, const std::string& name, const std::string& body);
    // Sends with retries; the final response (status 0: no answer).
    Response send(const std::string& method, const std::string& path, const std::string& body,
                  const std::string& content_type);
    bool patch_allowed(const std::string& ns);
    void patch_forbidden(const std::string& ns, const Response& r);
    // Logs a refusal (or a failure to reach the API server), rate-limited per kind.
    void refused(const std::string& request, const Response& r);
    void result(std::string_view what);

    ApiClient client_;
    EventsOptions options_;
    ResultCallback on_result_;
    report::WallClock clock_;
    std::unordered_map<std::string, Series> series_;  // by series_key
    std::list<std::string> series_lru_;
    SpamFilter spam_;  // by pod uid
    // Namespaces where PATCH was refused with 403: until when repeats are new Events.
    std::map<std::string, std::chrono::steady_clock::time_point> patch_forbidden_until_;
    bool said_fallback_ = false;
    struct Refusals {
        std::chrono::steady_clock::time_point logged;
        uint64_t unlogged = 0;  // since
    };
    std::map<std::string, Refusals> refusals_;  // by HTTP status and Status reason
    uint64_t names_made_ = 0;
    std::atomic<bool> cancelled_{false};
};

}  // namespace initwatch::k8s
