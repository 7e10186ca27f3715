#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "meta/kubelet_logs.h"
#include "temp_dir.h"

using initwatch::meta::KubeletLogIndex;
using initwatch::meta::KubeletLogLimits;
using initwatch::meta::parse_container_log_name;
using initwatch::meta::pod_uid_from_link_text;
using initwatch::meta::PodInfo;
namespace fs = std::filesystem;

namespace {

using initwatch::test::TempDir;

const std::string id_a = "e58a24d4a722c99712cff74ef69d93311089584eb32617b3890e0dcb996133f1";
const std::string id_b = "a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e";
const std::string id_c = "0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef";
const std::string uid_1 = "7fda01c4-0ece-403d-88b4-c371d66d132a";
const std::string uid_2 = "1e597579-417e-482f-bf65-5fe170c3aebd";
constexpr uint64_t second = 1'000'000'000;

// A node's log layout under a fake host root, as kubelet writes it, but without /var/log/pods: it is
// not mounted (the links' text says all), so nothing may need it.
struct Node {
    TempDir dir;
    Node() { fs::create_directories(containers()); }

    fs::path containers() const { return dir.path / "var/log/containers"; }

    static std::string link_name(const std::string& pod, const std::string& ns, const std::string& container,
                                 const std::string& id) {
        return pod + "_" + ns + "_" + container + "-" + id + ".log";
    }

    // The link's target is the host's absolute path, as kubelet writes it: dangling under this root.
    void add(const std::string& pod, const std::string& ns, const std::string& container,
             const std::string& id, const std::string& uid) {
        fs::create_symlink("/var/log/pods/" + ns + "_" + pod + "_" + uid + "/" + container + "/0.log",
                           containers() / link_name(pod, ns, container, id));
    }

    void remove(const std::string& pod, const std::string& ns, const std::string& container,
                const std::string& id) {
        fs::remove(containers() / link_name(pod, ns, container, id));
    }
};

}  // namespace

TEST_CASE("log link names split from the right: the id, then three underscore-free names") {
    struct Row {
        std::string name;
        bool valid;
        std::string pod, ns, container;
    };
    const std::vector<Row> rows = {
        {"coredns-5d78c9869d-4xq2p_kube-system_coredns-" + id_a + ".log", true, "coredns-5d78c9869d-4xq2p",
         "kube-system", "coredns"},
        {"web-0_shop.prod_my-server-" + id_a + ".log", true, "web-0", "shop.prod", "my-server"},
        {"api.v2-7c9f_default_app-" + id_a + ".log", true, "api.v2-7c9f", "default", "app"},
        {"p_n_c-" + id_a + ".log", true, "p", "n", "c"},
        {"p_n_c-" + id_a + ".log.1", false, "", "", ""},
        {"p_n_c-" + id_a, false, "", "", ""},
        {"p_n_c-" + id_a.substr(1) + ".log", false, "", "", ""},
        {"p_n_c-E58A24D4A722C99712CFF74EF69D93311089584EB32617B3890E0DCB996133F1.log", false, "", "", ""},
        {"p_n_c" + id_a + ".log", false, "", "", ""},
        {"p_n-c-" + id_a + ".log", false, "", "", ""},
        {"p_n_c_d-" + id_a + ".log", false, "", "", ""},
        {"_n_c-" + id_a + ".log", false, "", "", ""},
        {"p__c-" + id_a + ".log", false, "", "", ""},
        {"p_n_-" + id_a + ".log", false, "", "", ""},
        {id_a + ".log", false, "", "", ""},
        {"", false, "", "", ""},
    };
    for (const auto& row : rows) {
        INFO(row.name);
        const auto link = parse_container_log_name(row.name);
        REQUIRE(link.has_value() == row.valid);
        if (!link) continue;
        CHECK(link->pod.pod_name == row.pod);
        CHECK(link->pod.namespace_name == row.ns);
        CHECK(link->pod.container_name == row.container);
        CHECK(link->pod.pod_uid.empty());
        CHECK(link->container_id == id_a);
    }
}

TEST_CASE("a container id finds its pod, namespace, container and the pod UID from the link target") {
    Node node;
    node.add("coredns-5d78c9869d-4xq2p", "kube-system", "coredns", id_a, uid_1);
    node.add("web-0", "shop.prod", "my-server", id_b, uid_2);
    KubeletLogIndex index(node.dir.path.string() + "/");

    const auto a = index.lookup(id_a, 1);
    REQUIRE(a);
    CHECK(a->namespace_name == "kube-system");
    CHECK(a->pod_name == "coredns-5d78c9869d-4xq2p");
    CHECK(a->container_name == "coredns");
    CHECK(a->pod_uid == uid_1);

    const auto b = index.lookup(id_b, 1);
    REQUIRE(b);
    CHECK(b->pod_name == "web-0");
    CHECK(b->namespace_name == "shop.prod");
    CHECK(b->container_name == "my-server");
    CHECK(b->pod_uid == uid_2);

    CHECK_FALSE(index.lookup(id_c, 1));
}

TEST_CASE("a relative link target gives the UID too") {
    Node node;
    fs::create_symlink("../pods/default_app_" + uid_1 + "/main/3.log",
                       node.containers() / Node::link_name("app", "default", "main", id_a));
    KubeletLogIndex index(node.dir.path.string());
    const auto pod = index.lookup(id_a, 1);
    REQUIRE(pod);
    CHECK(pod->pod_uid == uid_1);
}

TEST_CASE("the pod UID is read from the link's text only, and only when it agrees with the link's name") {
    const PodInfo pod{"shop", "web-0", "", "server"};
    struct Row {
        std::string text, uid;
    };
    const std::vector<Row> rows = {
        {"/var/log/pods/shop_web-0_" + uid_1 + "/server/0.log", uid_1},
        {"../pods/shop_web-0_" + uid_1 + "/server/12.log", uid_1},
        {"shop_web-0_" + uid_1 + "/server/0.log", uid_1},
        {"/var/log/pods/shop_web-0_" + uid_1 + "/other/0.log", ""},     // another container
        {"/var/log/pods/shop_web-1_" + uid_1 + "/server/0.log", ""},    // another pod
        {"/var/log/pods/prod_web-0_" + uid_1 + "/server/0.log", ""},    // another namespace
        {"/var/log/pods/shop_web-0_/server/0.log", ""},                 // no UID
        {"/var/log/pods/shop_web-0_" + uid_1 + "_x/server/0.log", ""},  // not one field
        {"/var/log/pods/shop_web-0_" + uid_1 + "/server/0.txt", ""},
        {"/var/log/pods/shop_web-0_" + uid_1 + "/server", ""},
        {"/var/lib/docker/containers/" + id_a + "/" + id_a + "-json.log", ""},
        {"server/0.log", ""},
        {"", ""},
    };
    for (const auto& row : rows) {
        INFO(row.text);
        CHECK(pod_uid_from_link_text(row.text, pod) == row.uid);
    }
}

TEST_CASE("without a usable link text the UID is unknown: /var/log/pods is never read") {
    Node node;
    std::ofstream(node.containers() / Node::link_name("app", "default", "main", id_a)) << "not a link\n";
    fs::create_symlink("/var/lib/docker/containers/" + id_b + "/" + id_b + "-json.log",
                       node.containers() / Node::link_name("db", "default", "postgres", id_b));
    // Were it read, this would give the UIDs.
    fs::create_directories(node.dir.path / "var/log/pods" / ("default_app_" + uid_1) / "main");
    fs::create_directories(node.dir.path / "var/log/pods" / ("default_db_" + uid_1) / "postgres");
    KubeletLogIndex index(node.dir.path.string());

    const auto app = index.lookup(id_a, 1);
    REQUIRE(app);
    CHECK(app->pod_name == "app");
    CHECK(app->container_name == "main");
    CHECK(app->pod_uid.empty());
    const auto db = index.lookup(id_b, 1);
    REQUIRE(db);
    CHECK(db->pod_name == "db");
    CHECK(db->pod_uid.empty());
}

TEST_CASE("the link's target is never opened: a FIFO there would block a reader") {
    Node node;
    // A target that exists, is a FIFO (opening it would block) and is not kubelet's file name: only
    // its text is used.
    const fs::path fifo_dir = node.dir.path / "var/log/pods" / ("default_app_" + uid_1) / "main";
    fs::create_directories(fifo_dir);
    REQUIRE(mkfifo((fifo_dir / "0.log").c_str(), 0600) == 0);
    fs::create_symlink(fifo_dir / "0.log",
                       node.containers() / Node::link_name("app", "default", "main", id_a));
    KubeletLogIndex index(node.dir.path.string());
    const auto app = index.lookup(id_a, 1);
    REQUIRE(app);
    CHECK(app->pod_uid == uid_1);
}

TEST_CASE("link text and entries per scan are bounded") {
    Node node;
    SECTION("a link text longer than max_link_bytes gives no UID") {
        const std::string text = "/var/log/pods/default_app_" + uid_1 + "/main/0.log";
        fs::create_symlink(std::string(200, '/') + text,
                           node.containers() / Node::link_name("app", "default", "main", id_a));
        KubeletLogLimits limits;
        limits.max_link_bytes = 200;
        KubeletLogIndex index(node.dir.path.string(), limits);
        const auto app = index.lookup(id_a, 1);
        REQUIRE(app);
        CHECK(app->pod_uid.empty());

        limits.max_link_bytes = 200 + text.size();
        KubeletLogIndex roomier(node.dir.path.string(), limits);
        CHECK(roomier.lookup(id_a, 1)->pod_uid == uid_1);
    }
    SECTION("a scan reads at most max_scan_entries directory entries") {
        for (int i = 0; i < 50; ++i) std::ofstream(node.containers() / ("junk-" + std::to_string(i))) << "";
        node.add("app", "default", "main", id_a, uid_1);
        KubeletLogLimits limits;
        limits.max_scan_entries = 10;
        KubeletLogIndex index(node.dir.path.string(), limits);
        index.lookup(id_b, 1);
        CHECK(index.size() <= 1);
        limits.max_scan_entries = 100;
        KubeletLogIndex all(node.dir.path.string(), limits);
        CHECK(all.lookup(id_a, 1));
    }
}

TEST_CASE("a miss rescans at once when kubelet added a link, else at most once per interval") {
    Node node;
    KubeletLogIndex index(node.dir.path.string(), KubeletLogLimits{second, 600 * second, 100});
    CHECK_FALSE(index.lookup(id_a, 10 * second));

    node.add("app", "default", "main", id_a, uid_1);  // a crash-looping container's next start
    const auto pod = index.lookup(id_a, 10 * second + second / 10);
    REQUIRE(pod);
    CHECK(pod->pod_name == "app");

    // A link that came without the directory changing (its mtime put back) waits for the interval.
    const std::string links = (node.dir.path / "var/log/containers").string();
    struct stat before {};
    REQUIRE(stat(links.c_str(), &before) == 0);
    node.add("db", "default", "main", id_b, uid_2);
    const timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(utimensat(AT_FDCWD, links.c_str(), times, 0) == 0);
    CHECK_FALSE(index.lookup(id_b, 10 * second + second / 2));
    CHECK(index.lookup(id_b, 11 * second + second / 5));
}

TEST_CASE("containers whose logs disappear are kept for the grace period") {
    Node node;
    node.add("app", "default", "main", id_a, uid_1);
    KubeletLogIndex index(node.dir.path.string(), KubeletLogLimits{second, 60 * second, 100});
    REQUIRE(index.lookup(id_a, 1 * second));
    node.remove("app", "default", "main", id_a);

    CHECK_FALSE(index.lookup(id_b, 30 * second));  // a rescan that no longer sees id_a
    CHECK(index.lookup(id_a, 31 * second));

    CHECK_FALSE(index.lookup(id_b, 62 * second));  // past the grace period
    CHECK_FALSE(index.lookup(id_a, 62 * second));
    CHECK(index.size() == 0);
}

TEST_CASE("memory is bounded: the least recently seen containers go first") {
    Node node;
    node.add("old", "default", "main", id_a, uid_1);
    KubeletLogIndex index(node.dir.path.string(), KubeletLogLimits{second, 600 * second, 2});
    REQUIRE(index.lookup(id_a, 1 * second));

    node.remove("old", "default", "main", id_a);
    node.add("new", "default", "main", id_b, uid_2);
    node.add("newer", "default", "main", id_c, uid_2);
    REQUIRE(index.lookup(id_b, 5 * second));
    CHECK(index.size() == 2);
    CHECK(index.lookup(id_c, 5 * second));
    CHECK_FALSE(index.lookup(id_a, 5 * second));
}

TEST_CASE("a host without kubelet's directories is simply unknown") {
    TempDir empty;
    KubeletLogIndex index(empty.path.string());
    CHECK_FALSE(index.lookup(id_a, 1));
    CHECK(index.size() == 0);
}
