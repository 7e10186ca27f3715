#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "meta/container_catalog.h"

using namespace initwatch::meta;
namespace fs = std::filesystem;

namespace {

const std::string kId = "4c2d9e2b8f0a1e6f3b5d7c9e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const std::string kUid = "0b5e6a38-3f4c-4d0e-9b1a-2c3d4e5f6a7b";

struct FakeNode {
    fs::path root;
    CatalogOptions options;
    FakeNode() {
        char tmpl[] = "/tmp/initwatch-catalog-XXXXXX";
        root = mkdtemp(tmpl);
        fs::create_directories(root / "cgroup/kubepods/burstable" / ("pod" + kUid) / kId);
        fs::create_directories(root / "cgroup/user.slice");
        const fs::path pod_dir = root / "host/var/log/pods" / ("shop_web-7d9f_" + kUid) / "server";
        fs::create_directories(pod_dir);
        std::ofstream(pod_dir / "0.log") << "";
        fs::create_directories(root / "host/var/log/containers");
        fs::create_symlink(pod_dir / "0.log", root / "host/var/log/containers" / ("web-7d9f_shop_server-" + kId + ".log"));
        std::ofstream(root / "mountinfo") << "26 25 0:23 / " << (root / "cgroup").string()
                                          << " rw,nosuid - cgroup2 cgroup2 rw\n";
        options.host_root = (root / "host").string();
        options.node_name = "node-7";
        options.mountinfo_path = (root / "mountinfo").string();
    }
    ~FakeNode() { fs::remove_all(root); }
    uint64_t id_of(const fs::path& p) const {
        struct stat st {};
        stat((root / "cgroup" / p).c_str(), &st);
        return st.st_ino;
    }
};

}  // namespace

TEST_CASE("a Kubernetes container is named by its cgroup path and kubelet's logs") {
    FakeNode node;
    ContainerCatalog catalog(node.options);
    CHECK(catalog.node() == "node-7");
    const auto info = catalog.describe(node.id_of(fs::path("kubepods/burstable") / ("pod" + kUid) / kId), 1);
    CHECK(info.cgroup_path == "/kubepods/burstable/pod" + kUid + "/" + kId);
    CHECK(info.id == kId);
    CHECK(info.runtime == "containerd");
    CHECK(info.name == "server");
    REQUIRE(info.pod);
    CHECK(info.pod->name == "web-7d9f");
    CHECK(info.pod->namespace_name == "shop");
    CHECK(info.pod->uid == kUid);
}

TEST_CASE("a cgroup that is no container has a path and nothing more") {
    FakeNode node;
    ContainerCatalog catalog(node.options);
    const auto info = catalog.describe(node.id_of("user.slice"), 1);
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
}
