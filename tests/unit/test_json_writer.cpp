// JSON lines: safe on a terminal, lossless, streamed, and never longer than documented.
#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "report/json_writer.h"
#include "report/output.h"

using namespace initwatch;
using report::json_quote;

TEST_CASE("code points that steer a terminal or hide text are \\u escapes in JSON") {
    CHECK(json_quote("a\x1b[31mb") == "\"a\\u001b[31mb\"");
    CHECK(json_quote("del\x7f") == "\"del\\u007f\"");
    CHECK(json_quote("csi\xc2\x9b"
                     "2J") == "\"csi\\u009b2J\"");  // U+009B, a C1 CSI
    CHECK(json_quote("\xe2\x80\xae"
                     "evil") == "\"\\u202eevil\"");        // RIGHT-TO-LEFT OVERRIDE
    CHECK(json_quote("\xe2\x81\xa6x") == "\"\\u2066x\"");  // LEFT-TO-RIGHT ISOLATE
    CHECK(json_quote("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c") == "\"\\u200e\\u200f\\u061c\"");  // LRM RLM ALM
    CHECK(json_quote("zero\xe2\x80\x8bwidth\xef\xbb\xbf") == "\"zero\\u200bwidth\\ufeff\"");
    CHECK(json_quote("q\"b\\n\n\t") == "\"q\\\"b\\\\n\\n\\t\"");
    CHECK(json_quote("bad\xff\xc3") == "\"bad\\ufffd\\ufffd\"");
    CHECK(json_quote("caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80") ==
          "\"caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80\"");
}

TEST_CASE("escaped JSON is valid and decodes to the same valid UTF-8") {
    const std::string hostile = "x\xc2\x9b\xe2\x80\xae\xe2\x81\xa9\xe2\x80\x8b\xef\xbb\xbf\x7f\x01\xc3\xa9";
    CHECK(nlohmann::json::parse(json_quote(hostile)).get<std::string>() == hostile);
}

TEST_CASE("the writer streams a line in chunks and can take back what did not fit") {
    std::string out;
    size_t chunks = 0;
    report::JsonWriter w([&](std::string_view s) {
        out.append(s);
        ++chunks;
    });
    w.begin_object().field("a", 1).key("list").begin_array();
    for (int i = 0; i < 20000; ++i) {
        const auto mark = w.mark();
        w.value(std::string(10, 'x'));
        if (i == 19999) w.rollback(mark);
        w.maybe_flush();
    }
    w.end_array().field("n", true).end_object();
    w.end_line();
    CHECK(chunks > 2);
    const auto j = nlohmann::json::parse(out);
    CHECK(j["list"].size() == 19999);
    CHECK(j["n"] == true);
    CHECK(out.back() == '\n');
}

TEST_CASE("a finding's JSON line stays under the documented maximum and still counts every process") {
    model::Finding f;
    f.init.argv = {"sh", "/startup.sh"};
    f.init.status = model::ExitStatus::decode(0);
    const std::string controls(4000, '\x01');  // 6 bytes each once escaped
    for (uint32_t i = 0; i < 300; ++i) {
        model::LiveProcess p;
        p.pid = 1000 + i;
        p.comm = "x";
        p.argv = {"x", controls};
        p.chain = std::vector<uint32_t>(64, 7);
        f.live.push_back(p);
    }
    f.unlisted.push_back({model::How::reparented, "sleep", 5000});
    f.live_count = f.live.size() + 5000;
    char* buf = nullptr;
    size_t len = 0;
    std::FILE* mem = open_memstream(&buf, &len);
    {
        auto out = report::make_json_output(mem);
        out->finding(f, meta::FindingContext{});
    }
    std::fclose(mem);
    const std::string line(buf, len);
    free(buf);
    CHECK(line.size() <= report::Output::kMaxLineBytes);
    CHECK(std::count(line.begin(), line.end(), '\n') == 1);
    const auto j = nlohmann::json::parse(line);
    const size_t listed = j["live"].size();
    CHECK(listed > 0);
    CHECK(listed < 300);
    uint64_t counted = 0;
    for (const auto& g : j["unlisted"]) counted += g["count"].get<uint64_t>();
    CHECK(listed + counted == 5300);
    CHECK(j["live_count"] == 5300);
}
