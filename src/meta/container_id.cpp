#include "meta/container_id.h"

#include <array>
#include <vector>

namespace initwatch::meta {

namespace {

using Segments = std::vector<std::string_view>;

constexpr size_t full_id_length = 64;

bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return !s.empty();
}

// containerd, CRI-O, Docker and podman all name containers with a sha256-sized random id; anything
// else (a truncated or uppercase id) was not written by them.
bool is_full_id(std::string_view s) { return s.size() == full_id_length && is_lower_hex(s); }

// runc accepts ids matching ^[\w+-.]+$ except "." and "..".
bool is_runc_id(std::string_view s) {
    if (s.empty() || s == "." || s == "..") return false;
    for (char c : s) {
        const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && c != '_' && c != '+' && c != '-' && c != '.') return false;
    }
    return true;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// `s` without `prefix` and `suffix`, or nullopt when it does not have both.
std::optional<std::string_view> between(std::string_view s, std::string_view prefix,
                                        std::string_view suffix) {
    if (s.size() < prefix.size() + suffix.size() || !starts_with(s, prefix) || !ends_with(s, suffix))
        return std::nullopt;
    return s.substr(prefix.size(), s.size() - prefix.size() - suffix.size());
}

Segments split_path(std::string_view path) {
    Segments segments;
    while (!path.empty()) {
        const size_t slash = path.find('/');
        const std::string_view segment = path.substr(0, slash);
        if (!segment.empty()) segments.push_back(segment);
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return segments;
}

// Pod UIDs are UUIDs (lowercase, as the API server generates them), or for static pods the 32-hex
// hash of the manifest. systemd slice names carry them with '_' for '-' ('-' nests slices).
std::optional<std::string> pod_uid_from(std::string_view text, char separator) {
    if (text.size() == 32 && is_lower_hex(text)) return std::string(text);
    if (text.size() != 36) return std::nullopt;
    std::string uid(text);
    for (size_t i = 0; i < uid.size(); ++i) {
        const bool at_separator = i == 8 || i == 13 || i == 18 || i == 23;
        if (at_separator != (uid[i] == separator)) return std::nullopt;
        if (at_separator)
            uid[i] = '-';
        else if (!is_lower_hex(std::string_view(uid).substr(i, 1)))
            return std::nullopt;
    }
    return uid;
}

struct PodCgroup {
    std::string uid;
    std::string qos;
};

// systemd driver: "[<prefix>-]kubepods[-burstable|-besteffort]-pod<uid>.slice". The prefix is the
// parent slices' names when kubelet's cgroup root is not the top (kind: "kubelet-kubepods-...").
std::optional<PodCgroup> parse_pod_slice(std::string_view name) {
    constexpr std::string_view suffix = ".slice", pod_marker = "-pod";
    if (!ends_with(name, suffix)) return std::nullopt;
    const std::string_view stem = name.substr(0, name.size() - suffix.size());
    const size_t pod = stem.rfind(pod_marker);
    if (pod == std::string_view::npos) return std::nullopt;
    auto uid = pod_uid_from(stem.substr(pod + pod_marker.size()), '_');
    if (!uid) return std::nullopt;

    std::string_view parents = stem.substr(0, pod);
    std::string qos = "guaranteed";
    for (std::string_view level : {"burstable", "besteffort"}) {
        if (ends_with(parents, level) && ends_with(parents.substr(0, parents.size() - level.size()), "-")) {
            qos = std::string(level);
            parents.remove_suffix(level.size() + 1);
            break;
        }
    }
    if (parents != "kubepods" && !ends_with(parents, "-kubepods")) return std::nullopt;
    return PodCgroup{std::move(*uid), std::move(qos)};
}

// cgroupfs driver: ".../kubepods/pod<uid>" (guaranteed) or ".../kubepods/<qos>/pod<uid>".
std::optional<PodCgroup> parse_pod_directory(const Segments& segments, size_t pod_index) {
    constexpr std::string_view pod_prefix = "pod";
    if (pod_index < 1 || !starts_with(segments[pod_index], pod_prefix)) return std::nullopt;
    auto uid = pod_uid_from(segments[pod_index].substr(pod_prefix.size()), '-');
    if (!uid) return std::nullopt;
    const std::string_view parent = segments[pod_index - 1];
    if (parent == "kubepods") return PodCgroup{std::move(*uid), "guaranteed"};
    if ((parent == "burstable" || parent == "besteffort") && pod_index >= 2 &&
        segments[pod_index - 2] == "kubepods")
        return PodCgroup{std::move(*uid), std::string(parent)};
    return std::nullopt;
}

ContainerRef make_ref(std::string runtime, std::string_view id, const std::optional<PodCgroup>& pod) {
    ContainerRef ref{std::move(runtime), std::string(id), std::nullopt, std::nullopt};
    if (pod) {
        ref.pod_uid = pod->uid;
        ref.qos = pod->qos;
    }
    return ref;
}

// The systemd scope and cgroupfs directory names runtimes give a container.
struct NamedLayout {
    std::string_view prefix;
    std::string_view suffix;
    std::string_view runtime;
};
constexpr std::array<NamedLayout, 6> named_layouts{{
    {"cri-containerd-", ".scope", "containerd"},
    {"crio-", ".scope", "cri-o"},
    {"crio-", "", "cri-o"},
    {"docker-", ".scope", "docker"},
    {"libpod-", ".scope", "podman"},
    {"libpod-", "", "podman"},
}};

// containerd's default cgroup is /<namespace>/<id>; other tools (docker --cgroup-parent, runc with a
// custom cgroupsPath) make /<anything>/<64 hex> too, so only containerd's well-known namespaces count.
constexpr std::array<std::string_view, 3> containerd_namespaces{"default", "k8s.io", "moby"};

// The container whose cgroup is segments[i], judging by its name and its parent's.
std::optional<ContainerRef> container_at(const Segments& segments, size_t i) {
    const std::string_view name = segments[i];
    const std::string_view parent = i > 0 ? segments[i - 1] : std::string_view{};
    const auto pod_slice = i > 0 ? parse_pod_slice(parent) : std::nullopt;
    const auto pod_directory = i > 0 ? parse_pod_directory(segments, i - 1) : std::nullopt;
    const auto& pod = pod_slice ? pod_slice : pod_directory;

    for (const auto& layout : named_layouts) {
        auto id = between(name, layout.prefix, layout.suffix);
        if (id && is_full_id(*id)) return make_ref(std::string(layout.runtime), *id, pod);
    }
    if (auto id = between(name, "runc-", ".scope"); id && is_runc_id(*id)) return make_ref("runc", *id, pod);

    // runc with the cgroupfs driver takes containerd's systemd-style "slice:prefix:name" literally.
    constexpr std::string_view cri_containerd_infix = ":cri-containerd:";
    if (const size_t colon = name.find(cri_containerd_infix); colon != std::string_view::npos) {
        const std::string_view id = name.substr(colon + cri_containerd_infix.size());
        if (is_full_id(id)) return make_ref("containerd", id, parse_pod_slice(name.substr(0, colon)));
        return std::nullopt;
    }

    // A bare id is a container only where its parent says so.
    if (!is_full_id(name)) return std::nullopt;
    if (pod_directory) return make_ref("containerd", name, pod_directory);
    if (parent == "docker") return make_ref("docker", name, std::nullopt);
    if (i == 1)
        for (std::string_view ns : containerd_namespaces)
            if (parent == ns) return make_ref("containerd", name, std::nullopt);
    return std::nullopt;
}

// Sub-cgroups a container creates for its own processes (cgroup v2 allows no processes in a cgroup
// that has children). None of them can be a container name of the layouts above.
constexpr std::array<std::string_view, 3> own_sub_cgroups{"container", "init.scope", "init"};

}  // namespace

std::optional<ContainerRef> parse_cgroup_path(std::string_view path) {
    const Segments segments = split_path(path);
    if (segments.empty()) return std::nullopt;
    const size_t last = segments.size() - 1;
    if (auto ref = container_at(segments, last)) return ref;
    if (last == 0) return std::nullopt;
    for (std::string_view sub : own_sub_cgroups)
        if (segments[last] == sub) return container_at(segments, last - 1);
    return std::nullopt;
}

}  // namespace initwatch::meta
