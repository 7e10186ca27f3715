#include "k8s/events_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "k8s/note.h"
#include "report/escape.h"
#include "util/time.h"
#include "util/utf8.h"

namespace initwatch::k8s {

namespace {

constexpr size_t kMaxInstanceBytes = 128;
constexpr size_t kMaxNameBytes = 253;
// ".<16 hex>": a series' hash, and a fallback Event's own suffix after it.
constexpr size_t kNameSuffixBytes = 17;
constexpr std::chrono::seconds kMaxRetryAfter{30};
constexpr size_t kMaxLoggedMessageBytes = 512;
constexpr size_t kMaxRefusalKinds = 64;
constexpr size_t kMaxForbiddenNamespaces = 1024;
constexpr const char* kNamespaces = "/apis/events.k8s.io/v1/namespaces/";

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
bool succeeded(const Response& r) { return r.status >= 200 && r.status < 300; }

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

uint64_t fnv1a(std::string_view s) {
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

std::string hex16(uint64_t v) {
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(v));
    return text;
}

// The command of a process as the note shows it, without the truncation mark (a matter of
// the memory budget at the time, not of the failure).
std::string command(const model::ProcessSummary& p) { return report::format_command(p.argv, p.comm, false); }

// A message of the API server's on one log line: control and invisible characters escaped
// and nothing else (its quotes and backslashes are the message's), at most
// kMaxLoggedMessageBytes.
std::string loggable(std::string_view message) {
    const size_t kept = util::utf8_prefix_length(message, kMaxLoggedMessageBytes);
    const bool cut = kept < message.size();
    message = message.substr(0, kept);
    std::string out;
    for (size_t start = 0;;) {
        const size_t slash = message.find('\\', start);
        out += report::escape_text(
            message.substr(start, slash == std::string_view::npos ? slash : slash - start));
        if (slash == std::string_view::npos) break;
        out += '\\';
        start = slash + 1;
    }
    return cut ? out + "…" : out;
}

// An RFC 3339 time (an Event's eventTime: "Z" or an offset, any fraction) as CLOCK_REALTIME
// nanoseconds.
std::optional<uint64_t> parse_rfc3339(const std::string& text) {
    std::tm tm{};
    int end = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &end) != 6)
        return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    size_t i = static_cast<size_t>(end);
    uint64_t fraction_ns = 0;
    if (i < text.size() && text[i] == '.')
        for (uint64_t scale = 100'000'000;
             ++i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); scale /= 10)
            fraction_ns += static_cast<uint64_t>(text[i] - '0') * scale;
    int64_t offset_s = 0;
    if (text.compare(i, std::string::npos, "Z") != 0) {
        int hours = 0, minutes = 0;
        if (text.size() != i + 6 || (text[i] != '+' && text[i] != '-') ||
            std::sscanf(text.c_str() + i + 1, "%2d:%2d", &hours, &minutes) != 2)
            return std::nullopt;
        offset_s = (text[i] == '+' ? 1 : -1) * (hours * 3600 + minutes * 60);
    }
    const time_t t = timegm(&tm);
    if (t == static_cast<time_t>(-1) || t - offset_s < 0) return std::nullopt;
    return static_cast<uint64_t>(t - offset_s) * 1'000'000'000ULL + fraction_ns;
}

}  // namespace

std::string event_json(const meta::FindingContext& context, const std::string& name,
                       const std::string& event_time, const std::string& reason, const std::string& action,
                       const std::string& note, uint32_t series_count, const std::string& series_time) {
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
    nlohmann::json event = {
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
    if (series_count >= 2) event["series"] = {{"count", series_count}, {"lastObservedTime", series_time}};
    return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string series_key(const model::Finding& f, const meta::FindingContext& context) {
    const meta::ContainerInfo& c = context.container;
    std::string key = c.pod && c.pod->uid ? *c.pod->uid : std::string();
    const auto field = [&key](std::string_view text) {
        key += '\0';
        key += text;
    };
    field(c.name.value_or(""));
    field(event_reason(f));
    field(command(f.init));
    if (f.kind == model::Kind::init_exit) field(f.init.status.describe());
    if (f.entrypoint) {
        field(command(*f.entrypoint));
        field(f.entrypoint->status.describe());
    }
    if (f.worker) {
        field(command(*f.worker));
        field(f.worker->status.describe());
    }
    std::set<std::string_view> programs;
    for (const auto& p : f.live) programs.insert(p.comm);
    for (const auto& g : f.unlisted) programs.insert(g.comm);
    for (std::string_view program : programs) field(program);
    return key;
}

std::string series_event_name(const std::string& pod, const std::string& key) {
    std::string name = pod.substr(0, kMaxNameBytes - 2 * kNameSuffixBytes);
    while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name.back()))) name.pop_back();
    return name + "." + hex16(fnv1a(key));
}

EventsSink::EventsSink(ClusterConfig config, EventsOptions options, ResultCallback on_result)
    : client_(std::move(config)),
      options_(options),
      on_result_(std::move(on_result)),
      spam_(options.spam_burst, options.spam_refill, options.max_tracked) {
    options_.max_tracked = std::max<size_t>(options_.max_tracked, 1);
    spdlog::info("Kubernetes Events go to {} (from {})", client_.config().server, client_.config().source);
}

void EventsSink::result(std::string_view what) {
    if (on_result_ && !cancelled_.load()) on_result_(what);
}

void EventsSink::refused(const std::string& request, const Response& r) {
    if (cancelled_.load()) return;
    const std::optional<ApiStatus> status = r.status ? parse_status(r.body) : std::nullopt;
    const std::string kind =
        r.status ? std::to_string(r.status) + (status ? " " + status->reason : "") : "no answer";
    const auto now = std::chrono::steady_clock::now();
    auto it = refusals_.find(kind);
    if (it != refusals_.end() && now - it->second.logged < options_.log_interval) {
        ++it->second.unlogged;
        return;
    }
    if (it == refusals_.end()) {
        if (refusals_.size() >= kMaxRefusalKinds)
            refusals_.erase(std::min_element(
                refusals_.begin(), refusals_.end(),
                [](const auto& a, const auto& b) { return a.second.logged < b.second.logged; }));
        it = refusals_.emplace(kind, Refusals{}).first;
    }
    const uint64_t unlogged = it->second.unlogged;
    it->second = Refusals{now, 0};
    std::string why;
    if (!r.status)
        why = "no answer from " + client_.config().server + " after " + std::to_string(options_.max_tries) +
              " tries: " + r.error;
    else if (status)
        why = "HTTP " + kind + (status->message.empty() ? "" : ": " + loggable(status->message));
    else
        why = "HTTP " + kind + ": " + loggable(std::string_view(r.body).substr(0, 200));
    const std::string since =
        unlogged ? " (" + std::to_string(unlogged) + " more like it since the last one logged)" : "";
    spdlog::warn("Kubernetes Events: {} refused: {}{}", request, why, since);
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

Response EventsSink::post(const Write& w, const std::string& name, const std::string& event_time,
                          const std::string& note, uint32_t series_count) {
    return send(
        "POST", kNamespaces + w.ns + "/events",
        event_json(w.context, name, event_time, w.reason, event_action(w.finding), note, series_count, w.now),
        "application/json");
}

Response EventsSink::patch(const std::string& ns, const std::string& name, const std::string& body) {
    return send("PATCH", kNamespaces + ns + "/events/" + name, body, "application/merge-patch+json");
}

bool EventsSink::patch_allowed(const std::string& ns) {
    const auto it = patch_forbidden_until_.find(ns);
    if (it == patch_forbidden_until_.end()) return true;
    if (std::chrono::steady_clock::now() < it->second) return false;
    patch_forbidden_until_.erase(it);  // try again: the role may have changed
    return true;
}

void EventsSink::patch_forbidden(const std::string& ns, const Response& r) {
    if (patch_forbidden_until_.size() >= kMaxForbiddenNamespaces) patch_forbidden_until_.clear();
    patch_forbidden_until_[ns] = std::chrono::steady_clock::now() + options_.patch_retry;
    if (said_fallback_ || cancelled_.load()) return;
    said_fallback_ = true;
    const std::optional<ApiStatus> status = parse_status(r.body);
    spdlog::warn(
        "Kubernetes Events: PATCH refused in namespace \"{}\" (HTTP 403 {}{}): a repeated failure becomes a "
        "new "
        "Event with its count in the note, as \"(x3 over 10s)\"; grant \"patch\" on events (the ClusterRole "
        "initwatch-events of deploy/kubernetes does) to keep one Event per failure",
        ns, status ? status->reason : "",
        status && !status->message.empty() ? ": " + loggable(status->message) : "");
}

EventsSink::Series& EventsSink::remember(const std::string& key, Series s) {
    if (auto it = series_.find(key); it != series_.end()) {
        series_lru_.erase(it->second.lru);
        series_.erase(it);
    }
    series_lru_.push_back(key);
    s.lru = std::prev(series_lru_.end());
    Series& kept = series_.emplace(key, std::move(s)).first->second;
    evict(series_, series_lru_, options_.max_tracked);  // the oldest: never this one
    return kept;
}

void EventsSink::finding(const model::Finding& f, const meta::FindingContext& context) {
    const meta::ContainerInfo& c = context.container;
    if (!c.pod || !c.pod->uid || !c.pod->name || !c.pod->namespace_name) return result("no_pod");
    if (!dns_subdomain(*c.pod->namespace_name) || !dns_subdomain(*c.pod->name)) return result("no_pod");
    if (!spam_.allow(*c.pod->uid)) return result("filtered");

    const uint64_t now = util::monotonic_now_ns();
    const Write w{f,
                  context,
                  *c.pod->namespace_name,
                  *c.pod->name,
                  series_key(f, context),
                  event_reason(f),
                  finding_note(f),
                  clock_.rfc3339(now),
                  clock_.to_realtime_ns(now)};
    if (auto it = series_.find(w.key); it != series_.end()) {
        touch(series_lru_, it);
        return result(repeat(w, it->second));
    }
    result(first(w));
}

std::string_view EventsSink::first(const Write& w) {
    const std::string name = series_event_name(w.pod, w.key);
    const Response r = post(w, name, w.now, w.note, 0);
    if (succeeded(r)) {
        remember(w.key, Series{name, w.now, w.now_ns, 1, {}});
        return "created";
    }
    if (r.status != 409) {
        refused("creating an Event in namespace \"" + w.ns + "\"", r);
        return "failed";
    }
    // The name is taken: this failure's Event from before this agent started, most likely.
    if (const std::string_view adopted = adopt(w, name); !adopted.empty()) return adopted;
    for (int tries = 0; tries < 3 && !cancelled_.load(); ++tries) {
        const std::string own = name + "." + hex16(util::realtime_now_ns() + names_made_++);
        const Response u = post(w, own, w.now, w.note, 0);
        if (succeeded(u)) {
            remember(w.key, Series{own, w.now, w.now_ns, 1, {}});
            return "created";
        }
        if (u.status != 409) {
            refused("creating an Event in namespace \"" + w.ns + "\"", u);
            return "failed";
        }
    }
    return "failed";
}

std::string_view EventsSink::adopt(const Write& w, const std::string& name) {
    if (!patch_allowed(w.ns)) return {};
    // An empty merge patch changes nothing and answers the stored object: the `patch` right
    // reads it.
    const Response read = patch(w.ns, name, "{}");
    if (read.status == 403) {
        patch_forbidden(w.ns, read);
        return {};
    }
    if (read.status == 404) return {};  // deleted meanwhile
    if (!succeeded(read)) {
        refused("reading the Event \"" + name + "\" in namespace \"" + w.ns + "\" (an empty PATCH)", read);
        return "failed";
    }
    const nlohmann::json stored = nlohmann::json::parse(read.body, nullptr, false);
    if (!stored.is_object()) return {};
    const auto text = [&stored](const nlohmann::json::json_pointer& at) {
        return stored.contains(at) && stored[at].is_string() ? stored[at].get<std::string>() : std::string();
    };
    using Pointer = nlohmann::json::json_pointer;
    if (text(Pointer("/reportingController")) != kReportingController ||
        text(Pointer("/reason")) != w.reason ||
        text(Pointer("/regarding/uid")) != w.context.container.pod->uid.value_or(""))
        return {};  // not this failure's Event: the name is someone else's
    uint32_t count = 1;
    if (const Pointer at("/series/count"); stored.contains(at) && stored[at].is_number_unsigned())
        count = std::max(1U, stored[at].get<uint32_t>());
    const std::string event_time = text(Pointer("/eventTime"));
    const std::optional<uint64_t> first_ns = parse_rfc3339(event_time);
    Series& s =
        remember(w.key, Series{name, first_ns ? event_time : w.now, first_ns.value_or(w.now_ns), count, {}});
    return repeat(w, s);
}

std::string_view EventsSink::repeat(const Write& w, Series& s) {
    if (!patch_allowed(w.ns)) return fallback(w, s);
    const uint32_t next = s.count + 1;
    // The series only: reason and note are immutable on current API servers (1.20 let them
    // change), and the first note stands for the failure.
    const nlohmann::json series = {{"series", {{"count", next}, {"lastObservedTime", w.now}}}};
    const Response r = patch(w.ns, s.name, series.dump());
    if (succeeded(r)) {
        s.count = next;
        return "patched";
    }
    if (r.status == 403) {
        patch_forbidden(w.ns, r);
        return fallback(w, s);
    }
    if (r.status == 404) {
        // Deleted, or expired (the API server's --event-ttl, an hour by default): made again,
        // its count and first time carried on.
        const Response made = post(w, s.name, s.event_time, w.note, next);
        if (succeeded(made)) {
            s.count = next;
            return "recreated";
        }
        refused("creating again the Event \"" + s.name + "\" in namespace \"" + w.ns + "\" (gone)", made);
        return "failed";
    }
    refused("updating the series of the Event \"" + s.name + "\" in namespace \"" + w.ns + "\"", r);
    return "failed";
}

std::string_view EventsSink::fallback(const Write& w, Series& s) {
    const uint32_t next = s.count + 1;
    const std::string count = " (x" + std::to_string(next) + " over " +
                              util::format_duration(w.now_ns > s.first_ns ? w.now_ns - s.first_ns : 0) + ")";
    const std::string note = finding_note(w.finding, kMaxNoteBytes - count.size()) + count;
    const std::string base = series_event_name(w.pod, w.key);
    for (int tries = 0; tries < 3 && !cancelled_.load(); ++tries) {
        const std::string name = base + "." + hex16(util::realtime_now_ns() + names_made_++);
        const Response r = post(w, name, s.event_time, note, next);
        if (succeeded(r)) {
            s.name = name;
            s.count = next;
            return "fallback";
        }
        if (r.status != 409) {
            refused("creating an Event in namespace \"" + w.ns + "\"", r);
            return "failed";
        }
    }
    return "failed";
}

}  // namespace initwatch::k8s
