#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "meta/container_catalog.h"

using namespace initwatch::meta;
namespace fs = std::filesystem;

namespace {

const std::string kId = "4c2d9e2b8f0a1e6f3b5d7c9e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const std::string kUid = "0b5e6a38-3f4c-4d0e-9b1a-2c3d4e5f6a7b";
const std::string kAttackerId = "52371e0edd6309da3d4eaee6d303aa3401abbef92c34c2b1ddba7b28d82d6cb0";
const std::string kAttackerUid = "72f9a42e-50d3-47ee-8ec7-0bccfb6ea7ae";

struct FakeNode {
    fs::path root;
    CatalogOptions options;
    FakeNode() {
        char tmpl[] = "/tmp/initwatch-catalog-XXXXXX";
        root = mkdtemp(tmpl);
        fs::create_directories(root / "cgroup/kubepods/burstable" / ("pod" + kUid) / kId);
        fs::create_directories(root / "cgroup/user.slice");
        // An attacker pod that can create cgroups copies the victim's path below its own.
        fs::create_directories(root / "cgroup" / attacker() / "kubepods/burstable" / ("pod" + kUid) / kId);
        fs::create_directories(root / "cgroup/ci-job/system.slice" / ("cri-containerd-" + kId + ".scope"));
        const fs::path pod_dir = root / "host/var/log/pods" / ("shop_web-7d9f_" + kUid) / "server";
        fs::create_directories(pod_dir);
        std::ofstream(pod_dir / "0.log") << "";
        fs::create_directories(root / "host/var/log/containers");
        fs::create_symlink(pod_dir / "0.log",
                           root / "host/var/log/containers" / ("web-7d9f_shop_server-" + kId + ".log"));
        std::ofstream(root / "mountinfo")
            << "26 25 0:23 / " << (root / "cgroup").string() << " rw,nosuid - cgroup2 cgroup2 rw\n";
        options.host_root = (root / "host").string();
        options.node_name = "node-7";
        options.mountinfo_path = (root / "mountinfo").string();
    }
    ~FakeNode() { fs::remove_all(root); }
    static fs::path attacker() {
        return fs::path("kubepods/besteffort") / ("pod" + kAttackerUid) / kAttackerId;
    }
    uint64_t id_of(const fs::path& p) const {
        struct stat st {};
        stat((root / "cgroup" / p).c_str(), &st);
        return st.st_ino;
    }
};

// The catalog's cgroup walk runs on its own thread: ask, wait for the walk, then describe.
ContainerInfo describe(ContainerCatalog& catalog, uint64_t cgroup_id, uint64_t now_ns) {
    catalog.identity_pending(cgroup_id);
    catalog.wait_for_walk(5000);
    return catalog.describe(cgroup_id, now_ns);
}

}  // namespace

TEST_CASE("a Kubernetes container is named by its cgroup path and kubelet's logs") {
    FakeNode node;
    ContainerCatalog catalog(node.options);
    CHECK(catalog.node() == "node-7");
    const auto info = describe(catalog, node.id_of(fs::path("kubepods/burstable") / ("pod" + kUid) / kId), 1);
    CHECK(info.cgroup_path == "/kubepods/burstable/pod" + kUid + "/" + kId);
    CHECK(info.id == kId);
    CHECK(info.runtime == "containerd");
    CHECK(info.name == "server");
    REQUIRE(info.pod);
    CHECK(info.pod->name == "web-7d9f");
    CHECK(info.pod->namespace_name == "shop");
    CHECK(info.pod->uid == kUid);
}

TEST_CASE("a victim pod's path copied below an attacker pod's cgroup is the attacker's") {
    FakeNode node;
    ContainerCatalog catalog(node.options);
    const fs::path forged = FakeNode::attacker() / "kubepods/burstable" / ("pod" + kUid) / kId;
    const auto info = describe(catalog, node.id_of(forged), 1);
    CHECK(info.cgroup_path == "/" + forged.string());
    CHECK(info.id == kAttackerId);
    CHECK(info.runtime == "containerd");
    CHECK_FALSE(info.name);  // the attacker has no log link here; the victim's is never used
    REQUIRE(info.pod);
    CHECK(info.pod->uid == kAttackerUid);
    CHECK_FALSE(info.pod->name);
    CHECK_FALSE(info.pod->namespace_name);

    // Its findings are its own story, not the victim's.
    const auto victim =
        describe(catalog, node.id_of(fs::path("kubepods/burstable") / ("pod" + kUid) / kId), 2);
    CHECK(catalog.record_finding(victim, 3).count == 1);
    CHECK(catalog.record_finding(info, 4).count == 1);
    CHECK(catalog.record_finding(victim, 5).count == 2);
}

TEST_CASE("a container id outside an anchored pod gets no names from kubelet's logs") {
    FakeNode node;
    ContainerCatalog catalog(node.options);
    const auto info = describe(
        catalog, node.id_of(fs::path("ci-job/system.slice") / ("cri-containerd-" + kId + ".scope")), 1);
    CHECK(info.id == kId);
    CHECK_FALSE(info.name);
    CHECK_FALSE(info.pod);
    // Nor does it share the story of the pod whose id it copied.
    ContainerInfo victim;
    victim.id = kId;
    victim.runtime = "containerd";
    victim.pod = PodRef{std::nullopt, std::nullopt, kUid};
    CHECK(catalog.record_finding(victim, 2).count == 1);
    CHECK(catalog.record_finding(info, 3).count == 1);
}

TEST_CASE("a log link whose pod UID is not the cgroup's pod gives no names") {
    FakeNode node;
    const std::string other = "e58a24d4a722c99712cff74ef69d93311089584eb32617b3890e0dcb996133f1";
    fs::create_directories(node.root / "cgroup/kubepods/burstable" / ("pod" + kAttackerUid) / other);
    fs::create_symlink("/var/log/pods/shop_web-7d9f_" + kUid + "/server/1.log",
                       node.root / "host/var/log/containers" / ("web-7d9f_shop_server-" + other + ".log"));
    ContainerCatalog catalog(node.options);
    const auto info =
        describe(catalog, node.id_of(fs::path("kubepods/burstable") / ("pod" + kAttackerUid) / other), 1);
    CHECK(info.id == other);
    REQUIRE(info.pod);
    CHECK(info.pod->uid == kAttackerUid);
    CHECK_FALSE(info.pod->name);
    CHECK_FALSE(info.name);
}

TEST_CASE("a cgroup that is no container has a path and nothing more") {
    FakeNode node;
    ContainerCatalog catalog(node.options);
    const auto info = describe(catalog, node.id_of("user.slice"), 1);
    CHECK(info.cgroup_path == "/user.slice");
    CHECK_FALSE(info.id);
    CHECK_FALSE(info.pod);
    CHECK(catalog.record_finding(info, 1).count == 1);
    CHECK(catalog.record_finding(info, 2).count == 1);  // no identity: no story
}

TEST_CASE("the same pod and container failing again is one story, across container ids") {
    FakeNode node;
    ContainerCatalog catalog(node.options);
    ContainerInfo c;
    c.id = "a";
    c.runtime = "containerd";
    c.name = "server";
    c.pod = PodRef{std::string("web-7d9f"), std::string("shop"), kUid};
    CHECK(catalog.record_finding(c, 1'000'000'000).count == 1);
    c.id = "b";  // kubelet restarted it: a new container
    CHECK(catalog.record_finding(c, 31'000'000'000).count == 2);
    c.id = "c";
    const RepeatInfo third = catalog.record_finding(c, 126'000'000'000);
    CHECK(third.count == 3);
    CHECK(third.since_first_ns == 125'000'000'000ULL);
    CHECK(third.text == "3rd time in 2m05s");
    // A worker's end is a story of its own: it does not count as the init's next restart.
    CHECK(catalog.record_finding(c, 127'000'000'000, "worker_exit").count == 1);
    CHECK(catalog.record_finding(c, 128'000'000'000).count == 4);
}
