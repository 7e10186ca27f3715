// libFuzzer target: meta::parse_cgroup_path on arbitrary paths (cgroup names below a delegated
// cgroup are container-controlled). Whatever it returns must be a well-formed identity taken
// from the path itself: "never a wrong id".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "checks.h"
#include "meta/container_id.h"

using initwatch::fuzz::require;

namespace {

bool all_of(std::string_view s, bool (*pred)(char)) {
    for (char c : s)
        if (!pred(c)) return false;
    return true;
}

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// runc's container names: [A-Za-z0-9_+.-].
bool is_runc_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '+' || c == '-' || c == '.';
}

bool is_uuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_lower_hex(s[i])) return false;
    }
    return true;
}

bool same(const std::optional<initwatch::meta::ContainerRef>& a,
          const std::optional<initwatch::meta::ContainerRef>& b) {
    if (!a || !b) return !a && !b;
    return a->runtime == b->runtime && a->id == b->id && a->pod_uid == b->pod_uid && a->qos == b->qos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path(reinterpret_cast<const char*>(data), size);
    const auto ref = initwatch::meta::parse_cgroup_path(path);

    // Empty segments do not count: "/a//b/" is "a/b".
    require(same(ref, initwatch::meta::parse_cgroup_path("/" + path + "/")),
            "a leading or trailing slash changed the result", path);
    if (!ref) return 0;

    const std::string& id = ref->id;
    require(!id.empty(), "empty container id", path);
    require(path.find(id) != std::string::npos, "the id is not part of the path", id);
    if (ref->runtime == "runc") {
        require(all_of(id, is_runc_char) && id != "." && id != "..", "runc name outside [A-Za-z0-9_+.-]", id);
    } else {
        require(ref->runtime == "containerd" || ref->runtime == "cri-o" || ref->runtime == "docker" ||
                    ref->runtime == "podman",
                "unknown runtime", ref->runtime);
        require(id.size() == 64 && all_of(id, is_lower_hex), "id is not 64 lowercase hex", id);
    }
    require(ref->pod_uid.has_value() == ref->qos.has_value(), "a pod UID without a QoS class or the reverse",
            path);
    if (ref->pod_uid) {
        const std::string& uid = *ref->pod_uid;
        require(is_uuid(uid) || (uid.size() == 32 && all_of(uid, is_lower_hex)),
                "pod UID is neither a UUID nor 32 hex", uid);
        require(*ref->qos == "guaranteed" || *ref->qos == "burstable" || *ref->qos == "besteffort",
                "unknown QoS class", *ref->qos);
    }
    return 0;
}
