// JSON lines written as they are built: strings are encoded as they are appended and the
// line goes to the output in chunks, so a large finding never exists as a whole tree or
// string in memory. Every string a container controls is encoded so that it is safe on a
// terminal (`kubectl logs -f`) and lossless: see json_quote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace initwatch::report {

// `s` as a JSON string literal, quotes included. Valid UTF-8 stays itself, except code points
// that steer a terminal or hide text (util::is_unsafe_codepoint: C0/C1 controls, DEL, bidi
// controls, every default-ignorable code point), written as \u escapes (a surrogate pair past
// the BMP); each byte that is not valid UTF-8 becomes \ufffd.
std::string json_quote(std::string_view s);
void append_json_quoted(std::string& out, std::string_view s);

class JsonWriter {
public:
    using Sink = std::function<void(std::string_view)>;
    // Buffered bytes are handed to the sink when they pass this size (at maybe_flush).
    static constexpr size_t kChunkBytes = size_t{64} << 10;

    explicit JsonWriter(Sink sink) : sink_(std::move(sink)) {}

    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }
    JsonWriter& key(std::string_view k);
    JsonWriter& value(std::string_view s);
    JsonWriter& value(const char* s) { return value(std::string_view(s)); }
    JsonWriter& value(uint64_t n);
    JsonWriter& value(uint32_t n) { return value(static_cast<uint64_t>(n)); }
    JsonWriter& value(int n);
    JsonWriter& value(bool b);
    JsonWriter& null();
    template <typename T>
    JsonWriter& value(const std::optional<T>& v) {
        return v ? value(*v) : null();
    }
    template <typename T>
    JsonWriter& field(std::string_view k, const T& v) {
        return key(k).value(v);
    }

    // Bytes of the current line so far, flushed or not.
    size_t line_bytes() const { return flushed_ + buf_.size(); }

    // A point to come back to, if what follows turns out too long: only between values of
    // an array or object, and with no maybe_flush in between.
    struct Mark {
        size_t buffered;
        size_t flushed;
        bool need_comma;
    };
    Mark mark() const {
        return {buf_.size(), flushed_, need_comma_.empty() ? false : bool(need_comma_.back())};
    }
    void rollback(const Mark& m);

    void maybe_flush();
    // Ends the line: a newline, everything to the sink.
    void end_line();

private:
    JsonWriter& open(char c);
    JsonWriter& close(char c);
    void before_value();

    Sink sink_;
    std::string buf_;
    size_t flushed_ = 0;
    std::vector<bool> need_comma_;  // per open container
    bool after_key_ = false;
};

}  // namespace initwatch::report
