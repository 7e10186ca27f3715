// What is known of the container a finding is about.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace initwatch::meta {

struct ContainerInfo {
    uint64_t cgroup_id = 0;
    std::optional<std::string> cgroup_path;  // relative to the cgroup2 mount
};

}  // namespace initwatch::meta
