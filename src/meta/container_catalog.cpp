#include "meta/container_catalog.h"

#include <unistd.h>

#include <cstdlib>

#include "meta/container_id.h"

namespace initwatch::meta {

namespace {

std::string node_name(const std::string& given) {
    if (!given.empty()) return given;
    if (const char* env = std::getenv("NODE_NAME"); env && *env) return env;
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) == 0) return host;
    return {};
}

}  // namespace

ContainerCatalog::ContainerCatalog(const CatalogOptions& options)
    : cgroups_(find_cgroup2(options.mountinfo_path, options.host_root)),
      pods_(options.host_root),
      docker_(options.host_root, options.docker_root),
      node_(node_name(options.node_name)),
      node_cgroup_roots_(options.node_cgroup_roots) {}

ContainerInfo ContainerCatalog::describe(uint64_t cgroup_id, uint64_t now_ns) {
    ContainerInfo info;
    info.cgroup_id = cgroup_id;
    info.cgroup_path = cgroups_.path_of(cgroup_id);
    if (!info.cgroup_path) return info;
    const auto ref = parse_cgroup_path(*info.cgroup_path, node_cgroup_roots_);
    if (!ref) return info;
    info.id = ref->id;
    info.runtime = ref->runtime;
    if (ref->runtime == "docker")
        if (const auto docker = docker_.lookup(ref->id, now_ns)) {
            info.name = docker->name;
            info.image = docker->image;
        }
    // An id outside an anchored pod may be made up (a copy of another pod's): it gets no names.
    if (!ref->pod_uid) return info;
    info.pod = PodRef{std::nullopt, std::nullopt, ref->pod_uid};
    if (const auto pod = pods_.lookup(ref->id, now_ns);
        pod && (pod->pod_uid.empty() || pod->pod_uid == *ref->pod_uid)) {
        info.name = pod->container_name;
        info.pod->name = pod->pod_name;
        info.pod->namespace_name = pod->namespace_name;
    }
    return info;
}

bool ContainerCatalog::learn(uint64_t cgroup_id, uint64_t now_ns) {
    const auto path = cgroups_.path_of(cgroup_id);
    if (!path) return false;
    // Called for every exec: only a path that may be docker's is parsed (a cached lookup after).
    if (path->find("docker") != std::string::npos)
        if (const auto ref = parse_cgroup_path(*path, node_cgroup_roots_); ref && ref->runtime == "docker")
            docker_.lookup(ref->id, now_ns);
    return true;
}

bool ContainerCatalog::identity_pending(uint64_t cgroup_id) {
    if (cgroup_id <= 1 || cgroups_.root().empty()) return false;
    return !cgroups_.path_of(cgroup_id) && cgroups_.walking();
}

// A restarted container has a new id but the same pod and name: the story is theirs. Without a name,
// the pod UID is part of the key, so that an id copied outside an anchored pod is another story.
RepeatInfo ContainerCatalog::record_finding(const ContainerInfo& c, uint64_t now_ns, std::string_view story) {
    std::string key;
    if (c.pod && c.name)
        key =
            (c.pod->uid ? *c.pod->uid : c.pod->namespace_name.value_or("") + "/" + c.pod->name.value_or("")) +
            "/" + *c.name;
    else if (c.id)
        key = *c.runtime + ":" + *c.id + (c.pod && c.pod->uid ? "@" + *c.pod->uid : "");
    if (key.empty()) return {};  // no identity: every namespace is a story of its own
    if (!story.empty()) key = std::string(story) + ":" + key;
    const RepeatCounter::Repeat r = repeats_.record(key, now_ns);
    return RepeatInfo{r.count, r.since_first_ns, describe_repeat(r)};
}

}  // namespace initwatch::meta
