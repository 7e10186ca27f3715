#include "meta/docker_state.h"

#include <fcntl.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "util/file.h"
#include "util/ids.h"

namespace initwatch::meta {

namespace {

using json = nlohmann::json;

bool alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Docker's own rules, so that nothing else passes: a container name is
// [a-zA-Z0-9][a-zA-Z0-9_.-]+ (after the '/' it is stored with); an image reference or id is
// made of [A-Za-z0-9._:/@-] (domain, path, tag, digest), starting with a letter or digit.
std::optional<std::string> container_name(std::string value, size_t max_bytes) {
    if (!value.empty() && value[0] == '/') value.erase(0, 1);
    if (value.size() < 2 || value.size() > max_bytes || !alnum(value[0])) return std::nullopt;
    for (char c : value)
        if (!alnum(c) && c != '_' && c != '.' && c != '-') return std::nullopt;
    return value;
}

std::optional<std::string> image_reference(const std::string& value, size_t max_bytes) {
    if (value.empty() || value.size() > max_bytes || !alnum(value[0])) return std::nullopt;
    for (char c : value)
        if (!alnum(c) && c != '.' && c != '_' && c != '-' && c != ':' && c != '/' && c != '@')
            return std::nullopt;
    return value;
}

// Keeps "Name" and "Image" of the top-level object and "Image" of its "Config" object;
// everything else is skipped as it streams by. Deeper nesting than max_depth stops the parse.
class ConfigHandler final : public json::json_sax_t {
public:
    explicit ConfigHandler(size_t max_depth) : max_depth_(max_depth) {}

    bool null() override { return value(); }
    bool boolean(bool) override { return value(); }
    bool number_integer(number_integer_t) override { return value(); }
    bool number_unsigned(number_unsigned_t) override { return value(); }
    bool number_float(number_float_t, const string_t&) override { return value(); }
    bool binary(binary_t&) override { return value(); }
    bool string(string_t& s) override {
        if (!value()) return false;
        if (depth() == 1 && key_ == "Name")
            name = std::move(s);
        else if (depth() == 1 && key_ == "Image")
            image_id = std::move(s);
        else if (depth() == 2 && in_config_ && key_ == "Image")
            config_image = std::move(s);
        return true;
    }
    bool start_object(std::size_t) override { return open(true); }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(false); }
    bool end_array() override { return close(); }
    bool key(string_t& k) override {
        key_ = depth() <= 2 ? std::move(k) : std::string();
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false;
    }

    bool top_object = false;  // the text was one object
    std::optional<std::string> name, image_id, config_image;

private:
    size_t depth() const { return stack_.size(); }
    // A scalar is only valid inside the top-level object.
    bool value() const { return depth() > 0; }

    bool open(bool object) {
        if (depth() == 0 && !object) return false;  // not an object at the top
        if (depth() >= max_depth_) return false;
        // The object that is the value of the top-level "Config".
        if (depth() == 1) in_config_ = object && key_ == "Config";
        stack_.push_back(object);
        key_.clear();
        return true;
    }

    bool close() {
        if (stack_.empty()) return false;
        stack_.pop_back();
        if (depth() <= 1) in_config_ = false;
        if (depth() == 0) top_object = true;
        key_.clear();
        return true;
    }

    size_t max_depth_;
    std::vector<bool> stack_;  // object (true) or array, outermost first
    std::string key_;          // the last key at depth 1 or 2
    bool in_config_ = false;
};

}  // namespace

std::optional<DockerContainer> parse_docker_config(std::string_view text, const DockerStateLimits& limits) {
    if (text.size() > limits.max_file_bytes) return std::nullopt;
    ConfigHandler handler(limits.max_depth);
    const bool ok = json::sax_parse(text.begin(), text.end(), &handler, json::input_format_t::json, true);
    if (!ok || !handler.top_object) return std::nullopt;
    DockerContainer c;
    if (handler.name) c.name = container_name(std::move(*handler.name), limits.max_field_bytes);
    if (handler.config_image) c.image = image_reference(*handler.config_image, limits.max_field_bytes);
    if (!c.image && handler.image_id) c.image = image_reference(*handler.image_id, limits.max_field_bytes);
    return c;
}

std::optional<DockerContainer> read_docker_config(const std::string& docker_dir, std::string_view id,
                                                  const DockerStateLimits& limits) {
    if (!util::is_container_id(id)) return std::nullopt;
    // dockerd's own directories are trusted as far as containers/; below, nothing may be a
    // symlink, and the file must be whole within the bound (a streamed parse of a prefix
    // would be another object).
    const util::Fd dir = util::open_file(AT_FDCWD, docker_dir + "/containers", O_PATH | O_DIRECTORY,
                                         util::Resolve::last_component);
    if (!dir) return std::nullopt;
    const util::FileRead r =
        util::read_bounded(dir.get(), std::string(id) + "/config.v2.json",
                           util::ReadOptions{limits.max_file_bytes, true, util::Resolve::beneath});
    if (!r.ok()) return std::nullopt;
    return parse_docker_config(r.data, limits);
}

DockerStateIndex::DockerStateIndex(const std::string& host_root, const std::string& docker_root,
                                   DockerStateLimits limits)
    : limits_(limits) {
    std::string root = host_root == "/" ? "" : host_root;
    while (!root.empty() && root.back() == '/') root.pop_back();
    std::string docker = docker_root;
    while (!docker.empty() && docker.back() == '/') docker.pop_back();
    dir_ = root + (docker.empty() || docker[0] == '/' ? "" : "/") + docker;
}

std::optional<DockerContainer> DockerStateIndex::lookup(std::string_view id, uint64_t now_ns) {
    if (!util::is_container_id(id)) return std::nullopt;
    if (now_ns - last_sweep_ns_ >= limits_.idle_ns / 10) forget_idle(now_ns);
    const std::string key(id);
    if (auto it = entries_.find(key); it != entries_.end()) {
        Entry& e = it->second;
        e.used_ns = now_ns;
        if (!e.container && now_ns - e.read_ns >= limits_.retry_ns) {
            e.container = read_docker_config(dir_, id, limits_);
            e.read_ns = now_ns;
        }
        return e.container;
    }
    make_room(now_ns);
    Entry e{read_docker_config(dir_, id, limits_), now_ns, now_ns};
    auto found = e.container;
    entries_.emplace(key, std::move(e));
    return found;
}

void DockerStateIndex::forget_idle(uint64_t now_ns) {
    last_sweep_ns_ = now_ns;
    for (auto it = entries_.begin(); it != entries_.end();)
        it = now_ns - it->second.used_ns >= limits_.idle_ns ? entries_.erase(it) : std::next(it);
}

// Full even after dropping the idle ones: the least recently used goes.
void DockerStateIndex::make_room(uint64_t now_ns) {
    if (entries_.size() < limits_.max_entries) return;
    forget_idle(now_ns);
    while (!entries_.empty() && entries_.size() >= limits_.max_entries)
        entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
            return a.second.used_ns < b.second.used_ns;
        }));
}

}  // namespace initwatch::meta
