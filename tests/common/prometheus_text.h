// Checking a scrape in the tests: Prometheus's own `promtool check metrics` (Debian's
// `prometheus` package) judges the text format and its lint rules; a small reader gives the
// values of the sample lines. Shared by the unit tests of the registry and the kernel test
// that scrapes a running initwatch.
#pragma once

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace initwatch::test {

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

// The sample lines of a scrape (comments skipped): name, labels unescaped, value. Throws on a
// line it cannot read and on a series given twice, which promtool lets through.
inline std::vector<Sample> read_samples(const std::string& text) {
    std::vector<Sample> out;
    std::set<std::pair<std::string, std::map<std::string, std::string>>> seen;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        Sample s;
        size_t i = line.find_first_of("{ ");
        s.name = line.substr(0, i);
        if (line.at(i) == '{') {
            for (++i; line.at(i) != '}'; i += line.at(i) == ',') {
                const size_t eq = line.find("=\"", i);
                if (eq == std::string::npos) throw std::runtime_error("no label value in: " + line);
                std::string& value = s.labels[line.substr(i, eq - i)];
                for (i = eq + 2; line.at(i) != '"'; ++i) {
                    if (line[i] == '\\' && line.at(++i) == 'n')
                        value += '\n';
                    else
                        value += line[i];  // after a backslash: '\\' or '"'
                }
                ++i;
            }
            ++i;
        }
        s.value = std::stod(line.substr(i + 1));
        if (!seen.emplace(s.name, s.labels).second) throw std::runtime_error("a series given twice: " + line);
        out.push_back(std::move(s));
    }
    return out;
}

// The value of the one series with exactly these labels; throws if there is none.
inline double value_of(const std::vector<Sample>& samples, const std::string& name,
                       const std::map<std::string, std::string>& labels = {}) {
    for (const auto& s : samples)
        if (s.name == name && s.labels == labels) return s.value;
    throw std::runtime_error("no series " + name);
}

inline size_t series_of(const std::vector<Sample>& samples, const std::string& name) {
    size_t n = 0;
    for (const auto& s : samples) n += s.name == name;
    return n;
}

inline bool has_promtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

// What `promtool check metrics` says of the text: "" when it accepts it, else its complaint
// (or its exit status when it says nothing).
inline std::string promtool_complaint(const std::string& text) {
    char path[] = "/tmp/initwatch-scrape-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    std::ofstream(path, std::ios::binary) << text;
    std::string report;
    int status = -1;
    if (FILE* p =
            popen(("timeout 30 promtool check metrics < " + std::string(path) + " 2>&1").c_str(), "r")) {
        char buf[4096];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) report.append(buf, n);
        status = pclose(p);
    }
    ::unlink(path);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    return report.empty() ? "exit status " + std::to_string(status) : report;
}

// promtool accepts the scrape. Without promtool the check is skipped with a warning, except
// under CI=true, where it fails.
inline void check_with_promtool(const std::string& text) {
    if (!has_promtool()) {
        const char* ci = std::getenv("CI");
        if (ci && std::string(ci) == "true") FAIL("promtool not found (Debian: apt-get install prometheus)");
        WARN("promtool not found: the scrape's format is not checked (Debian: apt-get install prometheus)");
        return;
    }
    CHECK(promtool_complaint(text) == "");
}

}  // namespace initwatch::test
