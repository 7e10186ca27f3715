// A strict reader of the Prometheus text exposition format, shared by the unit tests of the
// registry and the kernel test that scrapes a running initwatch.
#pragma once

#include <cmath>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace initwatch::test {

// A strict reader of the Prometheus text format 0.0.4. It rejects everything the format
// forbids and also what it tolerates but a careful exporter never writes: blank lines and
// free comments, a sample without HELP and TYPE before it, a family split in two, extra
// spaces, a timestamp, a trailing comma in labels, a counter that is negative or not
// named *_total.
struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct Family {
    std::string help;
    std::string type;
    bool has_help = false;
};

struct Exposition {
    std::map<std::string, Family> families;
    std::vector<Sample> samples;

    // The value of the one series with exactly these labels; throws if there is none.
    double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
        for (const auto& s : samples)
            if (s.name == name && s.labels == labels) return s.value;
        throw std::runtime_error("no series " + name);
    }
    size_t series(const std::string& name) const {
        size_t n = 0;
        for (const auto& s : samples) n += s.name == name;
        return n;
    }
};

class StrictParser {
public:
    explicit StrictParser(const std::string& text) : text_(text) {}

    Exposition parse() {
        if (text_.empty()) fail("empty exposition");
        if (text_.back() != '\n') fail("the last line does not end with a newline");
        size_t start = 0;
        while (start < text_.size()) {
            const size_t end = text_.find('\n', start);
            line_ = text_.substr(start, end - start);
            ++line_no_;
            pos_ = 0;
            parse_line();
            start = end + 1;
        }
        return std::move(out_);
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        throw std::runtime_error("line " + std::to_string(line_no_) + ": " + why + ": '" + line_ + "'");
    }

    void parse_line() {
        if (line_.empty()) fail("blank line");
        if (line_.find('\r') != std::string::npos) fail("carriage return");
        if (line_[0] == '#') return parse_comment();
        parse_sample();
    }

    void parse_comment() {
        std::string keyword;
        if (line_.compare(0, 7, "# HELP ") == 0)
            keyword = "HELP";
        else if (line_.compare(0, 7, "# TYPE ") == 0)
            keyword = "TYPE";
        else
            fail("a comment other than HELP or TYPE");
        pos_ = 7;
        const std::string name = metric_name();
        enter_family(name);
        expect(' ');
        const std::string rest = line_.substr(pos_);
        Family& family = out_.families[name];
        if (keyword == "HELP") {
            if (family.has_help) fail("second HELP for " + name);
            if (!family.type.empty()) fail("HELP after TYPE");
            family.has_help = true;
            family.help = unescape(rest, false);
        } else {
            if (!family.type.empty()) fail("second TYPE for " + name);
            static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                         "untyped"};
            if (!kTypes.count(rest)) fail("unknown type");
            if (rest == "counter" && !ends_with(name, "_total")) fail("a counter not named *_total");
            family.type = rest;
        }
    }

    void parse_sample() {
        Sample s;
        s.name = metric_name();
        const std::string family_name = family_of(s.name);
        enter_family(family_name);
        const Family& family = out_.families[family_name];
        if (!family.has_help || family.type.empty()) fail("a sample before its family's HELP and TYPE");
        if (pos_ < line_.size() && line_[pos_] == '{') parse_labels(s.labels);
        expect(' ');
        s.value = float_value(line_.substr(pos_));
        if (family.type == "counter" && (std::isnan(s.value) || s.value < 0)) fail("a counter below zero");
        if (!series_.insert(s.name + to_string(s.labels)).second) fail("a duplicate series");
        out_.samples.push_back(std::move(s));
    }

    void parse_labels(std::map<std::string, std::string>& labels) {
        expect('{');
        while (true) {
            const std::string name = label_name();
            if (name.compare(0, 2, "__") == 0) fail("a reserved label name");
            expect('=');
            expect('"');
            std::string raw;
            while (pos_ < line_.size() && line_[pos_] != '"') {
                if (line_[pos_] == '\\') {
                    if (pos_ + 1 >= line_.size()) fail("a backslash at the end");
                    raw += line_.substr(pos_, 2);
                    pos_ += 2;
                } else {
                    raw += line_[pos_++];
                }
            }
            expect('"');
            if (!labels.emplace(name, unescape(raw, true)).second) fail("a label given twice");
            if (pos_ < line_.size() && line_[pos_] == ',') {
                ++pos_;
                if (pos_ < line_.size() && line_[pos_] == '}') fail("a trailing comma");
                continue;
            }
            expect('}');
            return;
        }
    }

    // The text format's escapes: \\ and \n everywhere, \" in label values only.
    std::string unescape(const std::string& s, bool label_value) const {
        std::string out;
        for (size_t i = 0; i < s.size(); ++i) {
            if (s[i] != '\\') {
                if (label_value && s[i] == '"') fail("an unescaped double quote");
                out += s[i];
                continue;
            }
            if (++i >= s.size()) fail("a backslash at the end");
            if (s[i] == '\\')
                out += '\\';
            else if (s[i] == 'n')
                out += '\n';
            else if (s[i] == '"' && label_value)
                out += '"';
            else
                fail(std::string("an unknown escape \\") + s[i]);
        }
        if (!valid_utf8(out)) fail("not UTF-8");
        return out;
    }

    static bool valid_utf8(const std::string& s) {
        static const std::regex kUtf8(
            "([\\x00-\\x7F]|[\\xC2-\\xDF][\\x80-\\xBF]|\\xE0[\\xA0-\\xBF][\\x80-\\xBF]|"
            "[\\xE1-\\xEC\\xEE\\xEF][\\x80-\\xBF]{2}|\\xED[\\x80-\\x9F][\\x80-\\xBF]|"
            "\\xF0[\\x90-\\xBF][\\x80-\\xBF]{2}|[\\xF1-\\xF3][\\x80-\\xBF]{3}|\\xF4[\\x80-\\x8F][\\x80-\\xBF]"
            "{2})*");
        return std::regex_match(s, kUtf8);
    }

    std::string metric_name() { return token("[a-zA-Z_:][a-zA-Z0-9_:]*", "a metric name"); }
    std::string label_name() { return token("[a-zA-Z_][a-zA-Z0-9_]*", "a label name"); }

    std::string token(const std::string& pattern, const std::string& what) {
        std::smatch m;
        const std::string rest = line_.substr(pos_);
        if (!std::regex_search(rest, m, std::regex("^" + pattern))) fail("expected " + what);
        pos_ += m.length(0);
        return m.str(0);
    }

    void expect(char c) {
        if (pos_ >= line_.size() || line_[pos_] != c) fail(std::string("expected '") + c + "'");
        ++pos_;
    }

    // Go's float syntax as Prometheus reads it; no timestamp allowed after it.
    double float_value(const std::string& s) const {
        if (s == "NaN") return NAN;
        if (s == "+Inf" || s == "Inf") return INFINITY;
        if (s == "-Inf") return -INFINITY;
        static const std::regex kFloat("[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?");
        if (!std::regex_match(s, kFloat)) fail("not a value (or a value followed by something)");
        return std::stod(s);
    }

    // The family a sample belongs to: its own name, or a histogram/summary's base name.
    std::string family_of(const std::string& name) const {
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            if (!ends_with(name, suffix)) continue;
            const std::string base = name.substr(0, name.size() - std::strlen(suffix));
            auto it = out_.families.find(base);
            if (it != out_.families.end() && (it->second.type == "histogram" || it->second.type == "summary"))
                return base;
        }
        return name;
    }

    // All lines of a family are together: coming back to a closed one is an error.
    void enter_family(const std::string& name) {
        if (name == current_) return;
        if (closed_.count(name)) fail(name + " split in two");
        if (!current_.empty()) closed_.insert(current_);
        current_ = name;
    }

    static bool ends_with(const std::string& s, const std::string& suffix) {
        return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
    }
    static std::string to_string(const std::map<std::string, std::string>& labels) {
        std::string out;
        for (const auto& [k, v] : labels) out += k + "\x01" + v + "\x02";
        return out;
    }

    const std::string& text_;
    std::string line_;
    size_t line_no_ = 0;
    size_t pos_ = 0;
    std::string current_;
    std::set<std::string> closed_;
    std::set<std::string> series_;
    Exposition out_;
};

inline Exposition parse_strict(const std::string& text) { return StrictParser(text).parse(); }

}  // namespace initwatch::test
