// examples/story/ holds the story's scripts for people to run; tests/kernel/scenarios/ the
// same scripts in the case files the kernel tests run: they must not drift apart.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
}  // namespace

TEST_CASE("every example script of the story is the script of its run case file") {
    size_t checked = 0;
    for (const auto& entry : fs::directory_iterator(EXAMPLES_DIR)) {
        if (entry.path().extension() != ".sh") continue;
        const fs::path case_file = fs::path(SCENARIO_DIR) / (entry.path().stem().string() + ".json");
        INFO(entry.path() << " against " << case_file);
        REQUIRE(fs::exists(case_file));
        const nlohmann::json j = nlohmann::json::parse(slurp(case_file));
        std::string script;
        for (const auto& line : j.at("script")) script += line.get<std::string>() + "\n";
        CHECK(slurp(entry.path()) == script);
        ++checked;
    }
    CHECK(checked == 5);
}
