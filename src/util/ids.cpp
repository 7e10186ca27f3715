#include "util/ids.h"

namespace initwatch::util {

namespace {

bool lower_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!lower_hex_digit(c)) return false;
    return !s.empty();
}

bool is_container_id(std::string_view s) { return s.size() == 64 && is_lower_hex(s); }

bool is_pod_uid(std::string_view s) {
    if (s.size() == 32) return is_lower_hex(s);
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !lower_hex_digit(s[i])) return false;
    }
    return true;
}

bool is_dns_label(std::string_view s) {
    if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-')) return false;
    return true;
}

}  // namespace initwatch::util
