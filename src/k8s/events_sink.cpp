#include "k8s/events_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "k8s/note.h"
#include "report/escape.h"
#include "util/time.h"

namespace initwatch::k8s {

namespace {

constexpr size_t kMaxInstanceBytes = 128;
constexpr size_t kMaxNameBytes = 253;
constexpr std::chrono::seconds kMaxRetryAfter{30};

// RFC 1123 subdomain (pod and namespace names are; kubelet's log names were checked, but
// an API path is built from them: check again).
bool dns_subdomain(std::string_view s) {
    if (s.empty() || s.size() > kMaxNameBytes) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
    return std::isalnum(static_cast<unsigned char>(s.front())) &&
           std::isalnum(static_cast<unsigned char>(s.back()));
}

bool retriable(const Response& r) { return r.status == 0 || r.status == 429 || r.status >= 500; }

template <typename Iterator>
void touch(std::list<std::string>& lru, Iterator it) {
    lru.splice(lru.end(), lru, it->second.lru);
}

template <typename Map>
void evict(Map& map, std::list<std::string>& lru, size_t max) {
    while (map.size() > max && !lru.empty()) {
        map.erase(lru.front());
        lru.pop_front();
    }
}

}  // namespace

std::string event_json(const meta::FindingContext& context, const std::string& name,
                       const std::string& event_time, const std::string& reason, const std::string& action,
                       const std::string& note) {
    const meta::ContainerInfo& c = context.container;
    const std::string container = c.name.value_or("");
    nlohmann::json regarding = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"namespace", c.pod->namespace_name.value_or("")},
        {"name", c.pod->name.value_or("")},
        {"uid", c.pod->uid.value_or("")},
    };
    if (!container.empty()) regarding["fieldPath"] = "spec.containers{" + container + "}";
    const nlohmann::json event = {
        {"apiVersion", "events.k8s.io/v1"},
        {"kind", "Event"},
        {"metadata", {{"name", name}, {"namespace", c.pod->namespace_name.value_or("")}}},
        {"eventTime", event_time},
        {"type", "Warning"},
        {"reason", reason},
        {"action", action},
        {"note", note},
        {"reportingController", kReportingController},
        {"reportingInstance", context.node.substr(0, kMaxInstanceBytes)},
        {"regarding", regarding},
    };
    return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

EventsSink::EventsSink(ClusterConfig config, EventsOptions options, ResultCallback on_result)
    : client_(std::move(config)),
      options_(options),
      on_result_(std::move(on_result)),
      spam_(options.spam_burst, options.spam_refill, options.max_tracked) {
    spdlog::info("Kubernetes Events go to {} (from {})", client_.config().server, client_.config().source);
}

void EventsSink::result(std::string_view what) {
    if (on_result_ && !cancelled_.load()) on_result_(what);
}

void EventsSink::log_once(const std::string& what) {
    if (logged_.size() < 64 && logged_.emplace(what, true).second)
        spdlog::warn("Kubernetes Events: {}", what);
}

Response EventsSink::send(const std::string& method, const std::string& path, const std::string& body,
                          const std::string& content_type) {
    std::chrono::milliseconds backoff = options_.first_backoff;
    Response r;
    for (size_t attempt = 1;; ++attempt) {
        r = client_.request(method, path, body, content_type);
        if (!retriable(r) || attempt >= options_.max_tries || cancelled_.load()) return r;
        std::chrono::milliseconds wait = backoff;
        if (r.retry_after_s)
            wait =
                std::min<std::chrono::milliseconds>(std::chrono::seconds(*r.retry_after_s), kMaxRetryAfter);
        spdlog::debug("Kubernetes Events: {} {}: {}; retrying in {} ms", method, path,
                      r.status ? std::to_string(r.status) : r.error, wait.count());
        // In short naps: a cancel ends the wait too.
        for (auto slept = std::chrono::milliseconds(0); slept < wait && !cancelled_.load();
             slept += std::chrono::milliseconds(50))
            std::this_thread::sleep_for(std::min(std::chrono::milliseconds(50), wait - slept));
        backoff = std::min(backoff * 2, options_.max_backoff);
    }
}

void EventsSink::finding(const model::Finding& f, const meta::FindingContext& context) {
    const meta::ContainerInfo& c = context.container;
    if (!c.pod || !c.pod->uid || !c.pod->name || !c.pod->namespace_name) return result("no_pod");
    const std::string& ns = *c.pod->namespace_name;
    const std::string& pod = *c.pod->name;
    if (!dns_subdomain(ns) || !dns_subdomain(pod)) return result("no_pod");
    if (!spam_.allow(*c.pod->uid)) return result("filtered");

    const std::string now = clock_.rfc3339(util::monotonic_now_ns());
    const std::string reason = event_reason(f), note = finding_note(f);
    const std::string key = *c.pod->uid + '\0' + c.name.value_or("") + '\0' + reason + '\0' + note;
    const std::string collection = "/apis/events.k8s.io/v1/namespaces/" + ns + "/events";

    if (auto it = series_.find(key); it != series_.end()) {
        touch(series_lru_, it);
        Series& s = it->second;
        const nlohmann::json patch = {{"series", {{"count", s.count + 1}, {"lastObservedTime", now}}}};
        const Response r =
            send("PATCH", collection + "/" + s.name, patch.dump(), "application/merge-patch+json");
        if (r.status >= 200 && r.status < 300) {
            ++s.count;
            return result("patched");
        }
        if (r.status != 404) {
            log_once("PATCH of an Event's series failed: " +
                     (r.status ? "HTTP " + std::to_string(r.status) : r.error));
            return result("failed");
        }
        series_lru_.erase(s.lru);  // the Event is gone (expired): a new one
        series_.erase(it);
    }

    for (int conflicts = 0; conflicts < 3; ++conflicts) {
        char suffix[24];
        std::snprintf(suffix, sizeof(suffix), ".%016llx",
                      static_cast<unsigned long long>(util::realtime_now_ns() + names_made_++));
        const std::string name = pod.substr(0, kMaxNameBytes - std::strlen(suffix)) + suffix;
        const Response r =
            send("POST", collection, event_json(context, name, now, reason, event_action(f), note),
                 "application/json");
        if (r.status == 409) continue;  // the name is taken: another
        if (r.status >= 200 && r.status < 300) {
            series_lru_.push_back(key);
            series_.emplace(key, Series{name, ns, 1, std::prev(series_lru_.end())});
            evict(series_, series_lru_, options_.max_tracked);
            return result("created");
        }
        log_once("creating an Event failed: " + (r.status ? "HTTP " + std::to_string(r.status) + " " +
                                                                report::escape_text(r.body.substr(0, 200))
                                                          : r.error));
        return result("failed");
    }
    return result("failed");
}

}  // namespace initwatch::k8s
