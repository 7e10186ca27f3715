#include "k8s/api_client.h"

#include <curl/curl.h>
#include <initwatch/error.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

namespace initwatch::k8s {

namespace {

struct Transfer {
    std::string* body;
    size_t max_bytes;
    std::optional<unsigned>* retry_after;
    const std::atomic<bool>* cancelled;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t n = size * count;
    if (t->body->size() < t->max_bytes) t->body->append(data, std::min(n, t->max_bytes - t->body->size()));
    return n;  // the rest is read and dropped: the time bound ends a server that never stops
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t n = size * count;
    constexpr const char kName[] = "retry-after:";
    if (n > sizeof(kName) && strncasecmp(data, kName, sizeof(kName) - 1) == 0) {
        const std::string value(data + sizeof(kName) - 1, n - (sizeof(kName) - 1));
        char* end = nullptr;
        const unsigned long s = std::strtoul(value.c_str(), &end, 10);
        if (end != value.c_str()) *t->retry_after = static_cast<unsigned>(std::min(s, 3600UL));
    }
    return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<Transfer*>(user)->cancelled->load() ? 1 : 0;  // non-zero aborts
}

void set_pem(CURL* curl, const Pem& pem, CURLoption file_option, CURLoption blob_option) {
    if (!pem.data.empty()) {
        curl_blob blob{const_cast<char*>(pem.data.data()), pem.data.size(), CURL_BLOB_COPY};
        curl_easy_setopt(curl, blob_option, &blob);
    } else if (!pem.file.empty()) {
        curl_easy_setopt(curl, file_option, pem.file.c_str());
    }
}

// A header value from a file or the config: one line, or a header could be injected.
std::string token_of(const ClusterConfig& c) {
    std::string token = c.token;
    if (!c.token_file.empty()) {
        token = read_small_file(c.token_file);
        while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
            token.pop_back();
    }
    for (char ch : token)
        if (ch == '\r' || ch == '\n' || ch == '\0') throw Error("the bearer token holds a line break");
    return token;
}

}  // namespace

std::optional<ApiStatus> parse_status(const std::string& body) {
    const nlohmann::json status = nlohmann::json::parse(body, nullptr, false);
    if (!status.is_object() || status.value("kind", "") != "Status") return std::nullopt;
    ApiStatus s;
    if (auto it = status.find("reason"); it != status.end() && it->is_string()) s.reason = *it;
    if (auto it = status.find("message"); it != status.end() && it->is_string()) s.message = *it;
    return s;
}

ApiClient::ApiClient(ClusterConfig config) : ApiClient(std::move(config), Limits{}) {}

ApiClient::ApiClient(ClusterConfig config, Limits limits) : config_(std::move(config)), limits_(limits) {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (!curl_) throw Error("cannot initialise libcurl");
}

ApiClient::~ApiClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Response ApiClient::request(const std::string& method, const std::string& path, const std::string& body,
                            const std::string& content_type) {
    Response r;
    std::string token;
    try {
        token = token_of(config_);
    } catch (const Error& e) {
        r.error = e.what();
        return r;
    }
    CURL* curl = static_cast<CURL*>(curl_);
    curl_easy_reset(curl);
    Transfer t{&r.body, limits_.max_response_bytes, &r.retry_after_s, &cancelled_};
    const std::string url = config_.server + path;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, limits_.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, limits_.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    set_pem(curl, config_.ca, CURLOPT_CAINFO, CURLOPT_CAINFO_BLOB);
    set_pem(curl, config_.client_cert, CURLOPT_SSLCERT, CURLOPT_SSLCERT_BLOB);
    set_pem(curl, config_.client_key, CURLOPT_SSLKEY, CURLOPT_SSLKEY_BLOB);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty()) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "initwatch");

    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    if (!body.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
    if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

    const CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    if (rc != CURLE_OK) {
        r.error = *error ? error : curl_easy_strerror(rc);
        r.body.clear();
        return r;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
}

}  // namespace initwatch::k8s
