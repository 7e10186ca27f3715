#include "meta/container_id.h"

#include <array>
#include <vector>

#include "util/ids.h"

namespace initwatch::meta {

namespace {

using Segments = std::vector<std::string_view>;

// containerd, CRI-O, Docker and podman all name containers with a sha256-sized random id; anything
// else (a truncated or uppercase id) was not written by them.
bool is_full_id(std::string_view s) { return util::is_container_id(s); }

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
    std::string uid(text);
    if (uid.size() == 36)
        for (size_t i : {8, 13, 18, 23}) {
            if (uid[i] != separator) return std::nullopt;
            uid[i] = '-';
        }
    if (!util::is_pod_uid(uid)) return std::nullopt;
    return uid;
}

struct PodCgroup {
    std::string uid;
    std::string qos;
    bool directory = false;  // cgroupfs "pod<uid>" (a bare id below names containerd), not a systemd slice
};

// The kubelet cgroup roots whose pod hierarchy is trusted, as the cgroupfs directories and the systemd
// slices above "kubepods": kubelet's default "/", and "/kubelet", which kind gives its nodes' kubelets.
// A container cannot create cgroups at these places: they are outside, above, its own cgroup.
struct KubeletRoot {
    std::vector<std::string_view> directories;  // cgroupfs: the directories above "kubepods"
    std::vector<std::string_view> slices;       // systemd: the slices above "<prefix>kubepods.slice"
    std::string_view slice_prefix;              // systemd: what the names of the slices below start with
};
const std::array<KubeletRoot, 2> kubelet_roots{{
    {{}, {}, ""},
    {{"kubelet"}, {"kubelet.slice"}, "kubelet-"},
}};

// segments[begin, begin + expected.size()) == expected.
bool segments_are(const Segments& segments, size_t begin, const std::vector<std::string_view>& expected) {
    if (begin + expected.size() > segments.size()) return false;
    for (size_t k = 0; k < expected.size(); ++k)
        if (segments[begin + k] != expected[k]) return false;
    return true;
}

struct PodSlice {
    PodCgroup pod;
    std::string_view prefix;  // the names of the slices above, "" or e.g. "kubelet-"
};

// systemd driver: "[<prefix>-]kubepods[-burstable|-besteffort]-pod<uid>.slice". The prefix is the
// parent slices' names when kubelet's cgroup root is not the top (kind: "kubelet-kubepods-...").
std::optional<PodSlice> parse_pod_slice(std::string_view name) {
    constexpr std::string_view suffix = ".slice", pod_marker = "-pod", kubepods = "kubepods";
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
    if (parents != kubepods && !ends_with(parents, "-kubepods")) return std::nullopt;
    return PodSlice{PodCgroup{std::move(*uid), std::move(qos), false},
                    parents.substr(0, parents.size() - kubepods.size())};
}

// The kubelet root whose systemd slices start with `prefix`.
const KubeletRoot* root_of_slice_prefix(std::string_view prefix) {
    for (const auto& root : kubelet_roots)
        if (root.slice_prefix == prefix) return &root;
    return nullptr;
}

// The pod whose cgroup is segments[pod_index], when the whole chain above it is a kubelet's pod
// hierarchy at a trusted root:
//   cgroupfs  <root dirs>/kubepods[/burstable|/besteffort]/pod<uid>
//   systemd   <root slices>/<p>kubepods.slice[/<p>kubepods-<qos>.slice]/<p>kubepods[-<qos>]-pod<uid_>.slice
std::optional<PodCgroup> anchored_pod(const Segments& segments, size_t pod_index) {
    const std::string_view name = segments[pod_index];
    constexpr std::string_view pod_prefix = "pod";
    if (starts_with(name, pod_prefix)) {
        if (auto uid = pod_uid_from(name.substr(pod_prefix.size()), '-')) {
            std::string qos = "guaranteed";
            size_t kubepods = pod_index;  // index of the "kubepods" directory
            if (pod_index >= 1 && segments[pod_index - 1] == "kubepods") {
                kubepods = pod_index - 1;
            } else if (pod_index >= 2 && segments[pod_index - 2] == "kubepods" &&
                       (segments[pod_index - 1] == "burstable" || segments[pod_index - 1] == "besteffort")) {
                kubepods = pod_index - 2;
                qos = std::string(segments[pod_index - 1]);
            }
            if (kubepods == pod_index) return std::nullopt;
            for (const auto& root : kubelet_roots)
                if (root.directories.size() == kubepods && segments_are(segments, 0, root.directories))
                    return PodCgroup{std::move(*uid), std::move(qos), true};
            return std::nullopt;
        }
    }
    auto slice = parse_pod_slice(name);
    if (!slice) return std::nullopt;
    const KubeletRoot* root = root_of_slice_prefix(slice->prefix);
    if (!root) return std::nullopt;
    std::vector<std::string> chain;
    const std::string p(slice->prefix);
    chain.push_back(p + "kubepods.slice");
    if (slice->pod.qos != "guaranteed") chain.push_back(p + "kubepods-" + slice->pod.qos + ".slice");
    if (root->slices.size() + chain.size() != pod_index || !segments_are(segments, 0, root->slices))
        return std::nullopt;
    for (size_t k = 0; k < chain.size(); ++k)
        if (segments[root->slices.size() + k] != chain[k]) return std::nullopt;
    return std::move(slice->pod);
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

// Where runc's cgroupfs driver puts kubelet's systemd-style "slice:prefix:name": below containerd's
// own cgroup, which is the node's, never a container's.
const std::vector<std::string_view> containerd_service{"system.slice", "containerd.service"};

// The container whose cgroup is segments[i], judging by its name and the segments above it.
std::optional<ContainerRef> container_at(const Segments& segments, size_t i) {
    const std::string_view name = segments[i];
    const auto pod = i > 0 ? anchored_pod(segments, i - 1) : std::nullopt;

    for (const auto& layout : named_layouts) {
        auto id = between(name, layout.prefix, layout.suffix);
        if (id && is_full_id(*id)) return make_ref(std::string(layout.runtime), *id, pod);
    }
    if (auto id = between(name, "runc-", ".scope"); id && is_runc_id(*id)) return make_ref("runc", *id, pod);

    // runc with the cgroupfs driver takes containerd's systemd-style "slice:prefix:name" literally.
    constexpr std::string_view cri_containerd_infix = ":cri-containerd:";
    if (const size_t colon = name.find(cri_containerd_infix); colon != std::string_view::npos) {
        const std::string_view id = name.substr(colon + cri_containerd_infix.size());
        if (!is_full_id(id)) return std::nullopt;
        std::optional<PodCgroup> literal_pod;
        if (i == containerd_service.size() && segments_are(segments, 0, containerd_service))
            if (auto slice = parse_pod_slice(name.substr(0, colon));
                slice && root_of_slice_prefix(slice->prefix))
                literal_pod = std::move(slice->pod);
        return make_ref("containerd", id, literal_pod);
    }

    // A bare id is a container only where its parent says so.
    if (!is_full_id(name)) return std::nullopt;
    if (pod && pod->directory) return make_ref("containerd", name, pod);
    if (i != 1) return std::nullopt;
    if (segments[0] == "docker") return make_ref("docker", name, std::nullopt);
    for (std::string_view ns : containerd_namespaces)
        if (segments[0] == ns) return make_ref("containerd", name, std::nullopt);
    return std::nullopt;
}

// The outermost container: what is below it is its own (sub-cgroups for its processes, containers it
// runs, or names it made up).
std::optional<ContainerRef> outermost_container(const Segments& segments) {
    for (size_t i = 0; i < segments.size(); ++i)
        if (auto ref = container_at(segments, i)) return ref;
    return std::nullopt;
}

}  // namespace

std::optional<ContainerRef> parse_cgroup_path(std::string_view path) { return parse_cgroup_path(path, {}); }

std::optional<ContainerRef> parse_cgroup_path(std::string_view path,
                                              const std::vector<std::string>& node_roots) {
    const Segments segments = split_path(path);
    size_t node_depth = 0;
    for (const auto& root : node_roots) {
        const Segments root_segments = split_path(root);
        if (root_segments.size() > node_depth && root_segments.size() < segments.size() &&
            segments_are(segments, 0, {root_segments.begin(), root_segments.end()}))
            node_depth = root_segments.size();
    }
    if (node_depth > 0)
        if (auto ref = outermost_container(
                Segments(segments.begin() + static_cast<std::ptrdiff_t>(node_depth), segments.end())))
            return ref;
    return outermost_container(segments);
}

}  // namespace initwatch::meta
