#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "harness.h"

int main(int argc, char* argv[]) {
    // How slow this machine is, measured before any test loads it (harness.h: slowdown).
    initwatch::ktest::slowdown();
    return Catch::Session().run(argc, argv);
}
