#include "report/json_writer.h"

#include <cassert>
#include <cstdio>

#include "util/utf8.h"

namespace initwatch::report {

namespace {

// Past the BMP as a UTF-16 surrogate pair, as JSON spells it.
void append_u_escape(std::string& out, uint32_t cp) {
    char buf[16];
    if (cp > 0xffff) {
        const uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
    }
    out += buf;
}

}  // namespace

void append_json_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"':
                out += "\\\"";
                ++i;
                continue;
            case '\\':
                out += "\\\\";
                ++i;
                continue;
            case '\n':
                out += "\\n";
                ++i;
                continue;
            case '\r':
                out += "\\r";
                ++i;
                continue;
            case '\t':
                out += "\\t";
                ++i;
                continue;
            default:
                break;
        }
        uint32_t cp = 0;
        const size_t len = util::decode_utf8(s, i, cp);
        if (len == 0) {
            out += "\\ufffd";
            ++i;
        } else if (util::is_unsafe_codepoint(cp)) {
            append_u_escape(out, cp);
            i += len;
        } else {
            out.append(s.substr(i, len));
            i += len;
        }
    }
    out += '"';
}

std::string json_quote(std::string_view s) {
    std::string out;
    append_json_quoted(out, s);
    return out;
}

void JsonWriter::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!need_comma_.empty()) {
        if (need_comma_.back()) buf_ += ',';
        need_comma_.back() = true;
    }
}

JsonWriter& JsonWriter::open(char c) {
    before_value();
    buf_ += c;
    need_comma_.push_back(false);
    return *this;
}

JsonWriter& JsonWriter::close(char c) {
    buf_ += c;
    if (!need_comma_.empty()) need_comma_.pop_back();
    return *this;
}

JsonWriter& JsonWriter::key(std::string_view k) {
    before_value();
    append_json_quoted(buf_, k);
    buf_ += ':';
    after_key_ = true;
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
    before_value();
    append_json_quoted(buf_, s);
    return *this;
}

JsonWriter& JsonWriter::value(uint64_t n) {
    before_value();
    buf_ += std::to_string(n);
    return *this;
}

JsonWriter& JsonWriter::value(int n) {
    before_value();
    buf_ += std::to_string(n);
    return *this;
}

JsonWriter& JsonWriter::value(bool b) {
    before_value();
    buf_ += b ? "true" : "false";
    return *this;
}

JsonWriter& JsonWriter::null() {
    before_value();
    buf_ += "null";
    return *this;
}

void JsonWriter::rollback(const Mark& m) {
    assert(m.flushed == flushed_ && m.buffered <= buf_.size());
    buf_.resize(m.buffered);
    if (!need_comma_.empty()) need_comma_.back() = m.need_comma;
    after_key_ = false;
}

void JsonWriter::maybe_flush() {
    if (buf_.size() < kChunkBytes) return;
    sink_(buf_);
    flushed_ += buf_.size();
    buf_.clear();
}

void JsonWriter::end_line() {
    buf_ += '\n';
    sink_(buf_);
    buf_.clear();
    flushed_ = 0;
    need_comma_.clear();
    after_key_ = false;
}

}  // namespace initwatch::report
