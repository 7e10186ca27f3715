// A docker container's name and image from the engine's own state file, without its socket:
//   <docker root>/containers/<64 hex id>/config.v2.json
// (`"Name":"/web"`, `"Config":{"Image":"shop/web:1.4"}`), under --host-root on a node.
// The file is untrusted input: the id must be 64 lowercase hex; the id's directory and the
// file are opened without following symlinks, and the file must be a regular file of at most
// max_file_bytes; it is parsed by a SAX handler that keeps only the three fields it wants
// and stops past max_depth of nesting; a name or image that is not what docker itself accepts
// (charset, length) is dropped. dockerd writes the file before the container's first exec and
// replaces it atomically, so a read sees a whole file or none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace initwatch::meta {

struct DockerContainer {
    std::optional<std::string> name;   // without docker's leading '/'
    std::optional<std::string> image;  // as given to `docker run` (Config.Image), else the image id
};

struct DockerStateLimits {
    size_t max_file_bytes = size_t{1} << 20;
    size_t max_depth = 32;                  // config.v2.json nests 4 levels deep
    size_t max_field_bytes = 512;           // docker's own bounds are lower: a longer value is not docker's
    size_t max_entries = 4096;              // cached containers (found or not)
    uint64_t idle_ns = 600'000'000'000ULL;  // an entry unused this long is dropped
    uint64_t retry_ns = 250'000'000ULL;     // a miss is read again at most this often per id
};

// The fields of a config.v2.json text; nullopt when it is no JSON object within the limits.
std::optional<DockerContainer> parse_docker_config(std::string_view text,
                                                   const DockerStateLimits& limits = {});

// Reads <docker_dir>/containers/<id>/config.v2.json as described above; nullopt when any
// check fails or the file is not there.
std::optional<DockerContainer> read_docker_config(const std::string& docker_dir, std::string_view id,
                                                  const DockerStateLimits& limits = {});

class DockerStateIndex {
public:
    // `host_root` "" or "/" for this root; `docker_root` as dockerd's --data-root (absolute).
    DockerStateIndex(const std::string& host_root, const std::string& docker_root,
                     DockerStateLimits limits = {});

    // Cached; a miss (no file yet, or a bad one) is read again once retry_ns has passed.
    std::optional<DockerContainer> lookup(std::string_view id, uint64_t now_ns);

    size_t size() const { return entries_.size(); }
    const std::string& dir() const { return dir_; }

private:
    struct Entry {
        std::optional<DockerContainer> container;
        uint64_t read_ns = 0;  // the last read
        uint64_t used_ns = 0;  // the last lookup
    };

    void forget_idle(uint64_t now_ns);
    void make_room(uint64_t now_ns);

    std::string dir_;  // host root + docker root, no trailing '/'
    DockerStateLimits limits_;
    std::unordered_map<std::string, Entry> entries_;
    uint64_t last_sweep_ns_ = 0;
};

}  // namespace initwatch::meta
