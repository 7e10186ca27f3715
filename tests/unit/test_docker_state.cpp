// Docker containers' names and images from config.v2.json, read as untrusted input; and the
// catalog naming a docker cgroup with them.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "meta/container_catalog.h"
#include "meta/docker_state.h"
#include "temp_dir.h"
#include "util/ids.h"

using namespace initwatch::meta;
using initwatch::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kId = "6df7ac55d3ff41a6f44ccd8c772983cad85e44221c7967ca3ffad3e654487561";
const std::string kOtherId = "a2b99546710122ee7912c9d9082990b1c14388188f117fd6221d3bb4f7ef8b7a";
constexpr uint64_t kSecond = 1'000'000'000;

// What dockerd 20.10 wrote for `docker run --name keep gate-2:test sleep 100` (shortened).
std::string config_of(
    const std::string& name, const std::string& config_image,
    const std::string& image_id = "sha256:193a99dd57036e4caa0cef59fb529197734def3dae5a8486fc155fc8e8510b72") {
    return R"({"StreamConfig":{},"State":{"Running":true,"Pid":13541,"Health":null},"ID":")" + kId +
           R"(","Path":"sleep","Args":["100"],"Config":{"Hostname":"a2b995467101","Env":null,"Cmd":["sleep","100"],"Image":)" +
           config_image + R"(,"Labels":{"Name":"/not-this","Image":"nor-this"}},"Image":")" + image_id +
           R"(","NetworkSettings":{"Networks":{"none":{"Aliases":null}}},"Name":)" + name +
           R"(,"Driver":"overlay2"})";
}

struct DockerRoot {
    TempDir dir;
    fs::path containers() const { return dir.path / "var/lib/docker/containers"; }
    fs::path write(const std::string& id, const std::string& text) const {
        fs::create_directories(containers() / id);
        const fs::path file = containers() / id / "config.v2.json";
        std::ofstream(file, std::ios::trunc) << text;
        return file;
    }
    std::string docker_dir() const { return (dir.path / "var/lib/docker").string(); }
};

}  // namespace

TEST_CASE("a docker config gives the name without its slash and the image as it was given") {
    const auto c = parse_docker_config(config_of(R"("/keep")", R"("gate-2:test")"));
    REQUIRE(c);
    CHECK(c->name == "keep");
    CHECK(c->image == "gate-2:test");
}

TEST_CASE("without Config.Image the image is the image id, and names and images docker accepts pass") {
    const auto c = parse_docker_config(config_of(R"("/web.1_a-b")", "null"));
    REQUIRE(c);
    CHECK(c->name == "web.1_a-b");
    CHECK(c->image == "sha256:193a99dd57036e4caa0cef59fb529197734def3dae5a8486fc155fc8e8510b72");
    const auto d = parse_docker_config(
        config_of(R"("/x1")", R"("registry.example.com:5000/shop/web@sha256:0123456789abcdef")"));
    REQUIRE(d);
    CHECK(d->image == "registry.example.com:5000/shop/web@sha256:0123456789abcdef");
}

TEST_CASE("a hostile name or image is dropped, not passed on") {
    for (const std::string name :
         {R"("/web\u001b[31mred")", R"("/a\nb")", R"("/a b")", R"("/../../etc")", R"("/\u202eevil")",
          R"("/")", R"("")", "42", R"(["/web"])", R"("/-leading")"}) {
        INFO(name);
        const auto c = parse_docker_config(config_of(name, R"("ok:1")"));
        REQUIRE(c);
        CHECK_FALSE(c->name);
        CHECK(c->image == "ok:1");
    }
    for (const std::string image : {R"("busybox\u0000:1")", R"("busybox;rm -rf /")", R"x("$(id)")x",
                                    R"("a\"b")", R"("\u00e9t\u00e9")", R"({"Image":"x"})"}) {
        INFO(image);
        const auto c = parse_docker_config(config_of(R"("/web")", image, R"(sha256:\u0007)"));
        REQUIRE(c);
        CHECK(c->name == "web");
        CHECK_FALSE(c->image);
    }
    const std::string long_name = "\"/" + std::string(600, 'a') + "\"";
    const auto c = parse_docker_config(config_of(long_name, "\"" + std::string(600, 'b') + "\""));
    REQUIRE(c);
    CHECK_FALSE(c->name);
    CHECK(c->image ==
          "sha256:193a99dd57036e4caa0cef59fb529197734def3dae5a8486fc155fc8e8510b72");  // the fallback
}

TEST_CASE("bad JSON, another top-level value or deep nesting gives nothing") {
    const std::string good = config_of(R"("/keep")", R"("gate-2:test")");
    CHECK_FALSE(parse_docker_config(good.substr(0, good.size() - 1)));  // cut short
    CHECK_FALSE(parse_docker_config(good + "{}"));                      // trailing garbage
    CHECK_FALSE(parse_docker_config(""));
    CHECK_FALSE(parse_docker_config("[" + good + "]"));
    CHECK_FALSE(parse_docker_config(R"("/keep")"));
    CHECK_FALSE(parse_docker_config(R"({"Name":"/keep",})"));
    // A nesting this deep would overflow a recursive parser's stack; the handler stops at 32.
    const std::string deep =
        R"({"Name":"/keep","x":)" + std::string(200000, '[') + std::string(200000, ']') + "}";
    CHECK_FALSE(parse_docker_config(deep));
    const std::string ok_depth =
        R"({"Name":"/keep","x":)" + std::string(30, '[') + std::string(30, ']') + "}";
    const auto c = parse_docker_config(ok_depth);
    REQUIRE(c);
    CHECK(c->name == "keep");
    CHECK_FALSE(c->image);
}

TEST_CASE("only the top-level Name and Image and Config's Image count") {
    const auto c = parse_docker_config(
        R"({"State":{"Name":"/inner","Image":"inner:1"},"Args":["Name","/arg"],"Name":"/outer",)"
        R"("Config":{"Labels":{"Image":"label:1"},"Image":"config:1"}})");
    REQUIRE(c);
    CHECK(c->name == "outer");
    CHECK(c->image == "config:1");
    const auto d = parse_docker_config(R"({"Config":["Image","x:1"],"Image":"top:1"})");
    REQUIRE(d);
    CHECK(d->image == "top:1");
}

TEST_CASE("the state file is read under the docker root by a 64-hex id") {
    DockerRoot root;
    root.write(kId, config_of(R"("/keep")", R"("gate-2:test")"));
    const auto c = read_docker_config(root.docker_dir(), kId);
    REQUIRE(c);
    CHECK(c->name == "keep");
    CHECK(c->image == "gate-2:test");
    CHECK_FALSE(read_docker_config(root.docker_dir(), kOtherId));  // no such container
}

TEST_CASE("an id that is not 64 lowercase hex is refused before any file is opened") {
    DockerRoot root;
    // A directory a bad id would reach if it were used as a path.
    fs::create_directories(root.containers() / "x");
    std::ofstream(root.containers() / "x" / "config.v2.json") << config_of(R"("/keep")", R"("a:1")");
    for (const std::string& id : {std::string("x"), kId.substr(0, 63), kId + "0", std::string(64, 'A'),
                                  "../containers/x/" + std::string(48, '0'), std::string(63, '0') + "/",
                                  std::string(32, '0') + std::string(1, '\0') + std::string(31, '0')}) {
        INFO(id);
        CHECK_FALSE(initwatch::util::is_container_id(id));
        CHECK_FALSE(read_docker_config(root.docker_dir(), id));
    }
    CHECK(initwatch::util::is_container_id(kId));
}

TEST_CASE("a symlinked state file or container directory is refused") {
    DockerRoot root;
    const fs::path real = root.write(kOtherId, config_of(R"("/keep")", R"("gate-2:test")"));
    REQUIRE(read_docker_config(root.docker_dir(), kOtherId));
    fs::create_directories(root.containers() / kId);
    fs::create_symlink(real, root.containers() / kId / "config.v2.json");
    CHECK_FALSE(read_docker_config(root.docker_dir(), kId));

    const std::string third = std::string(64, 'c');
    fs::create_directory_symlink(root.containers() / kOtherId, root.containers() / third);
    CHECK_FALSE(read_docker_config(root.docker_dir(), third));
}

TEST_CASE("a state file over 1 MiB, or no regular file, is refused without blocking") {
    DockerRoot root;
    std::string big = config_of(R"("/keep")", R"("gate-2:test")");
    big.insert(big.size() - 1, std::string((size_t{1} << 20) - big.size() + 1, ' '));  // 1 MiB + 1 byte
    REQUIRE(big.size() == (size_t{1} << 20) + 1);
    root.write(kId, big);
    CHECK_FALSE(read_docker_config(root.docker_dir(), kId));
    big.erase(big.size() - 2, 1);  // exactly 1 MiB: within the bound
    root.write(kId, big);
    const auto c = read_docker_config(root.docker_dir(), kId);
    REQUIRE(c);
    CHECK(c->name == "keep");

    // A FIFO in its place would block a plain open for ever.
    fs::create_directories(root.containers() / kOtherId);
    REQUIRE(mkfifo((root.containers() / kOtherId / "config.v2.json").c_str(), 0600) == 0);
    CHECK_FALSE(read_docker_config(root.docker_dir(), kOtherId));
    fs::remove(root.containers() / kOtherId / "config.v2.json");
    fs::create_directory(root.containers() / kOtherId / "config.v2.json");
    CHECK_FALSE(read_docker_config(root.docker_dir(), kOtherId));
}

TEST_CASE("the index reads a missing state file again, at most every retry interval") {
    DockerRoot root;
    DockerStateLimits limits;
    limits.retry_ns = kSecond;
    DockerStateIndex index(root.dir.path.string() + "/", "/var/lib/docker/", limits);
    CHECK(index.dir() == root.docker_dir());
    CHECK_FALSE(index.lookup(kId, 10 * kSecond));
    root.write(kId, config_of(R"("/keep")", R"("gate-2:test")"));
    CHECK_FALSE(index.lookup(kId, 10 * kSecond + kSecond / 2));  // throttled: not read again yet
    const auto c = index.lookup(kId, 11 * kSecond);
    REQUIRE(c);
    CHECK(c->name == "keep");
    // Found: kept while it is used, also after the container and its directory are gone.
    fs::remove_all(root.containers() / kId);
    CHECK(index.lookup(kId, 12 * kSecond));
    CHECK(index.size() == 1);
    CHECK_FALSE(index.lookup("not-an-id", 12 * kSecond));
    CHECK(index.size() == 1);  // a bad id takes no entry
}

TEST_CASE("the index drops entries unused for 10 minutes and never holds more than its bound") {
    DockerRoot root;
    root.write(kId, config_of(R"("/keep")", R"("gate-2:test")"));
    DockerStateLimits limits;
    limits.max_entries = 8;
    DockerStateIndex index(root.dir.path.string(), "/var/lib/docker", limits);
    REQUIRE(index.lookup(kId, kSecond));
    fs::remove_all(root.containers() / kId);
    for (int i = 0; i < 100; ++i) {
        char id[65];
        std::snprintf(id, sizeof id, "%064x", i + 1);
        index.lookup(id, kSecond + static_cast<uint64_t>(i) * 1000);
        CHECK(index.size() <= 8);
    }
    CHECK_FALSE(index.lookup(kId, 2 * kSecond));  // evicted as the least recently used; gone from disk

    DockerStateIndex idle(root.dir.path.string(), "/var/lib/docker");
    root.write(kId, config_of(R"("/keep")", R"("gate-2:test")"));
    REQUIRE(idle.lookup(kId, kSecond));
    fs::remove_all(root.containers() / kId);
    CHECK(idle.lookup(kId, 500 * kSecond));  // used: kept
    CHECK(idle.lookup(kOtherId, 1000 * kSecond) == std::nullopt);
    CHECK(idle.size() == 2);
    CHECK_FALSE(idle.lookup(kOtherId, 1101 * kSecond));  // the sweep: kId unused for 601 s
    CHECK(idle.size() == 1);
}

TEST_CASE("the catalog names a docker container's cgroup with its name and image") {
    TempDir dir;
    const fs::path cgroups = dir.path / "cgroup";
    fs::create_directories(cgroups / "docker" / kId);
    fs::create_directories(cgroups / "docker" / kOtherId);
    std::ofstream(dir.path / "mountinfo")
        << "26 25 0:23 / " << cgroups.string() << " rw,nosuid - cgroup2 cgroup2 rw\n";
    const fs::path host = dir.path / "host";
    const fs::path state = host / "srv/docker/containers" / kId;
    fs::create_directories(state);
    std::ofstream(state / "config.v2.json") << config_of(R"("/festive_turing")", R"("shop/web:1.4")");

    CatalogOptions options;
    options.host_root = host.string();
    options.mountinfo_path = (dir.path / "mountinfo").string();
    options.docker_root = "/srv/docker";
    ContainerCatalog catalog(options);
    struct stat st {};
    REQUIRE(stat((cgroups / "docker" / kId).c_str(), &st) == 0);
    catalog.learn(st.st_ino, kSecond);  // at the container's first exec: asks for the walk
    catalog.wait_for_walk(5000);
    REQUIRE(catalog.learn(st.st_ino, kSecond));  // known now: the docker state is read
    fs::remove_all(state);                       // `docker run --rm`: gone by its init's exit
    const auto info = catalog.describe(st.st_ino, 2 * kSecond);
    CHECK(info.runtime == "docker");
    CHECK(info.id == kId);
    CHECK(info.name == "festive_turing");
    CHECK(info.image == "shop/web:1.4");
    CHECK_FALSE(info.pod);

    REQUIRE(stat((cgroups / "docker" / kOtherId).c_str(), &st) == 0);
    const auto other = catalog.describe(st.st_ino, 3 * kSecond);  // no state file: id only
    CHECK(other.id == kOtherId);
    CHECK_FALSE(other.name);
    CHECK_FALSE(other.image);
}
