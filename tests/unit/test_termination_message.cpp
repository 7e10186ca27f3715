// The termination message sink against hostile mount tables and hostile files: a temp
// host root with kubelet's pods/ tree, and a temp proc root whose <pid>/mountinfo and
// <pid>/status the test writes (the kernel test reads a real container's).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "k8s/note.h"
#include "k8s/termination_message.h"
#include "util/utf8.h"

using namespace initwatch;
namespace fs = std::filesystem;

namespace {

const std::string kUid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const std::string kOtherUid = "11111111-2222-3333-4444-555555555555";
const std::string kName = "server";
const std::string kFile = "5eed0a1b";
constexpr uint32_t kPid = 4242;
constexpr uint64_t kCgroup = 777;

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_all(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

bool valid_utf8(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0;
        const size_t len = util::decode_utf8(s, i, cp);
        if (!len) return false;
        i += len;
    }
    return true;
}

model::Finding story_finding() {
    model::Finding f;
    f.cgroup_id = kCgroup;
    f.init.comm = "sh";
    f.init.argv = model::Argv{"sh", "/startup.sh"};
    f.init.status = model::ExitStatus::decode(0);
    model::LiveProcess server;
    server.comm = "sleep";
    server.argv = model::Argv{"sleep", "3600"};
    server.how = model::How::background;
    server.sighup_ignored = true;
    f.live = {server};
    f.live_count = 1;
    f.diagnosis = model::diagnose(f);
    return f;
}

meta::FindingContext context_for(const std::string& uid, const std::string& name) {
    meta::FindingContext c;
    c.container.cgroup_id = kCgroup;
    c.container.name = name;
    c.container.pod = meta::PodRef{std::string("web"), std::string("shop"), uid};
    return c;
}

model::ExecEvent init_exec(uint32_t pid = kPid, uint64_t cgroup = kCgroup) {
    model::ExecEvent e;
    e.ts_ns = 1'000'000'000;
    e.task.key.tgid = pid;
    e.task.cgroup_id = cgroup;
    e.task.ns_level = 1;
    e.task.ns_pid = 1;
    e.task.comm = "sh";
    return e;
}

// A host root with kubelet's pods/ and a proc root with one namespace init.
struct Node {
    std::string dir, host_root, pods, proc;
    dev_t pods_dev = 0;
    std::vector<std::pair<std::string, uint64_t>> results;
    bool use_openat2 = true;

    Node() {
        char tmpl[] = "/tmp/initwatch-unit-termmsg-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        host_root = dir + "/host";
        pods = host_root + "/var/lib/kubelet/pods";
        proc = dir + "/proc";
        fs::create_directories(pods);
        struct stat st {};
        REQUIRE(stat(pods.c_str(), &st) == 0);
        pods_dev = st.st_dev;
        set_status("Name:\tsh\nNSpid:\t4242\t1\nNSpgid:\t4242\t1\n");
    }
    ~Node() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }

    std::string devno(dev_t d) const { return std::to_string(major(d)) + ":" + std::to_string(minor(d)); }
    std::string dev() const { return devno(pods_dev); }

    // kubelet's file for one container instance; returns its host path.
    std::string kubelet_file(const std::string& uid = kUid, const std::string& name = kName,
                             const std::string& file = kFile, const std::string& text = "") {
        const std::string d = pods + "/" + uid + "/containers/" + name;
        fs::create_directories(d);
        write_all(d + "/" + file, text);
        return d + "/" + file;
    }
    std::string host_path(const std::string& uid = kUid, const std::string& name = kName,
                          const std::string& file = kFile) const {
        return pods + "/" + uid + "/containers/" + name + "/" + file;
    }

    // A mountinfo line for a bind mount whose root is `root`, at `target`, on device `dev`.
    static std::string line(const std::string& dev, const std::string& root,
                            const std::string& target = "/dev/termination-log") {
        return "1200 1100 " + dev + " " + root + " " + target + " rw,relatime - ext4 /dev/vda1 rw\n";
    }
    std::string runtime_mounts() const {
        return "1100 1000 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
               "1101 1100 0:53 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
               "1102 1100 0:54 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n";
    }
    std::string kubelet_line(const std::string& uid = kUid, const std::string& name = kName,
                             const std::string& file = kFile) const {
        return line(dev(), "/var/lib/kubelet/pods/" + uid + "/containers/" + name + "/" + file);
    }

    void set_mountinfo(const std::string& text, uint32_t pid = kPid) {
        fs::create_directories(proc + "/" + std::to_string(pid));
        write_all(proc + "/" + std::to_string(pid) + "/mountinfo", text);
    }
    void set_status(const std::string& text, uint32_t pid = kPid) {
        fs::create_directories(proc + "/" + std::to_string(pid));
        write_all(proc + "/" + std::to_string(pid) + "/status", text);
    }

    k8s::TerminationMessageOptions options(size_t max_entries = 4096) const {
        k8s::TerminationMessageOptions o;
        o.host_root = host_root;
        o.proc_root = proc;
        o.max_entries = max_entries;
        o.use_openat2 = use_openat2;
        return o;
    }

    // exec of init, then the finding about that container: the sink's results.
    std::string run(const meta::FindingContext& context = context_for(kUid, kName),
                    const model::Finding& f = story_finding()) {
        k8s::TerminationMessageSink sink(options());
        sink.event(init_exec(), nullptr);
        sink.finding(f, context);
        results = sink.results();
        std::string out;
        for (const auto& [name, n] : results)
            if (n) out += (out.empty() ? "" : " ") + name + "=" + std::to_string(n);
        return out;
    }
};

}  // namespace

TEST_CASE("termination message: the root field names kubelet's file, and nothing else") {
    auto f = k8s::parse_termination_root("/var/lib/kubelet/pods/" + kUid + "/containers/server/5eed0a1b");
    REQUIRE(f);
    CHECK(f->pod_uid == kUid);
    CHECK(f->container == "server");
    CHECK(f->file == "5eed0a1b");
    // A static pod's uid is 32 hex digits; kubelet's --root-dir may be anywhere, its own mount.
    CHECK(k8s::parse_termination_root("/pods/0123456789abcdef0123456789abcdef/containers/a/00000000"));
    CHECK(k8s::parse_termination_root("/srv/kubelet/pods/" + kUid + "/containers/my-app-2/ffffffff"));

    for (const std::string& bad : std::vector<std::string>{
             "/var/lib/kubelet/pods/" + kUid + "/containers/server/5EED0A1B",   // upper case
             "/var/lib/kubelet/pods/" + kUid + "/containers/server/5eed0a1",    // 7 digits
             "/var/lib/kubelet/pods/" + kUid + "/containers/server/5eed0a1b0",  // 9 digits
             "/var/lib/kubelet/pods/" + kUid + "/containers/server/5eed0a1b/",  // a directory
             "/var/lib/kubelet/pods/" + kUid + "/volumes/server/5eed0a1b",      // not containers/
             "/var/lib/kubelet/pod/" + kUid + "/containers/server/5eed0a1b",
             "/var/lib/kubelet/pods/" + kUid + "/containers/../5eed0a1b",
             "/var/lib/kubelet/pods/../containers/server/5eed0a1b",
             "/var/lib/kubelet/pods/" + kUid + "/containers/Server/5eed0a1b",  // not a DNS label
             "/var/lib/kubelet/pods/" + kUid + "/containers/-server/5eed0a1b",
             "/var/lib/kubelet/pods/" + kUid + "/containers/ser ver/5eed0a1b",
             "/var/lib/kubelet/pods/" + kUid + "/containers/" + std::string(64, 'a') + "/5eed0a1b",
             "/var/lib/kubelet/pods/" + std::string(65, 'a') + "/containers/server/5eed0a1b",
             "/var/lib/kubelet/pods/x_y/containers/server/5eed0a1b",
             "pods/" + kUid + "/containers/server",
             "/5eed0a1b",
             "/",
             "",
         }) {
        INFO(bad);
        CHECK_FALSE(k8s::parse_termination_root(bad));
    }
}

TEST_CASE("termination message: the mount table is parsed by libmount, hostile lines skipped") {
    Node n;
    bool mismatched = true;

    SECTION("kubelet's mount among the runtime's") {
        auto f = k8s::find_termination_mount(n.runtime_mounts() + n.kubelet_line(), n.pods_dev, mismatched);
        REQUIRE(f);
        CHECK(f->pod_uid == kUid);
        CHECK(f->dev == n.pods_dev);
        CHECK_FALSE(mismatched);
    }
    SECTION("escaped spaces (\\040) in the root and the mount point: unescaped, then checked") {
        const std::string spaced =
            Node::line(n.dev(), "/srv/my\\040kubelet/pods/" + kUid + "/containers/server/" + kFile,
                       "/my\\040dir/termination\\040log");
        auto f = k8s::find_termination_mount(n.runtime_mounts() + spaced, n.pods_dev, mismatched);
        REQUIRE(f);
        CHECK(f->container == "server");
        // A name that is not a DNS label once unescaped is no kubelet file.
        const std::string bad =
            Node::line(n.dev(), "/var/lib/kubelet/pods/" + kUid + "/containers/ser\\040ver/" + kFile);
        CHECK_FALSE(k8s::find_termination_mount(n.runtime_mounts() + bad, n.pods_dev, mismatched));
    }
    SECTION("the right path on another device (a bind mount of the container's own filesystem)") {
        const std::string fake =
            Node::line("0:52", "/var/lib/kubelet/pods/" + kUid + "/containers/server/" + kFile);
        CHECK_FALSE(k8s::find_termination_mount(n.runtime_mounts() + fake, n.pods_dev, mismatched));
        CHECK(mismatched);
        // ... and the real one after it still counts.
        auto f =
            k8s::find_termination_mount(n.runtime_mounts() + fake + n.kubelet_line(), n.pods_dev, mismatched);
        REQUIRE(f);
        CHECK(f->dev == n.pods_dev);
    }
    SECTION("garbage lines between the mounts") {
        const std::string garbage = "garbage\n\n\x01\x02\xff\xfe\n1 2 3\n1200 1100 notadev / /x - \n" +
                                    std::string(5000, 'x') + "\n  \t \n";
        auto f = k8s::find_termination_mount(n.runtime_mounts() + garbage + n.kubelet_line() + garbage,
                                             n.pods_dev, mismatched);
        REQUIRE(f);
        CHECK(f->file == kFile);
        CHECK_FALSE(k8s::find_termination_mount(garbage, n.pods_dev, mismatched));
        CHECK_FALSE(k8s::find_termination_mount("", n.pods_dev, mismatched));
        CHECK_FALSE(k8s::find_termination_mount(std::string(1000, '\0'), n.pods_dev, mismatched));
    }
    SECTION("the first of several: the runtime's mounts come before any the container makes") {
        auto f = k8s::find_termination_mount(n.kubelet_line() + n.kubelet_line(kUid, kName, "00000000"),
                                             n.pods_dev, mismatched);
        REQUIRE(f);
        CHECK(f->file == kFile);
    }
}

TEST_CASE("termination message: appended after the application's text, a blank line between") {
    Node n;
    n.set_mountinfo(n.runtime_mounts() + n.kubelet_line());
    const std::string note = k8s::finding_note(story_finding(), k8s::kMaxOwnMessageBytes - 14);

    SECTION("an empty file: ours alone") {
        n.kubelet_file();
        CHECK(n.run() == "written=1");
        CHECK(read_all(n.host_path()) == "initwatch: " + note + "\n");
    }
    SECTION("the application's message ending in a newline") {
        n.kubelet_file(kUid, kName, kFile, "db connection refused\n");
        CHECK(n.run() == "written=1");
        CHECK(read_all(n.host_path()) == "db connection refused\n\ninitwatch: " + note + "\n");
    }
    SECTION("the application's message without a newline") {
        n.kubelet_file(kUid, kName, kFile, "fatal: config missing");
        CHECK(n.run() == "written=1");
        CHECK(read_all(n.host_path()) == "fatal: config missing\n\ninitwatch: " + note + "\n");
    }
}

TEST_CASE("termination message: at most 4,096 bytes in all, ours at most 1,024, cut whole") {
    Node n;
    n.set_mountinfo(n.runtime_mounts() + n.kubelet_line());
    model::Finding f = story_finding();
    // Long, non-ASCII command lines: the note must be shortened at a UTF-8 boundary.
    for (int i = 0; i < 30; ++i) {
        model::LiveProcess p = f.live[0];
        p.argv = model::Argv{"wörker-ünïcode-" + std::to_string(i), std::string(100, 'x') + "ü€𝄞"};
        f.live.push_back(p);
    }
    f.live_count = f.live.size();

    SECTION("an empty file: ours capped at 1,024") {
        n.kubelet_file();
        CHECK(n.run(context_for(kUid, kName), f) == "written=1");
        const std::string text = read_all(n.host_path());
        CHECK(text.size() <= k8s::kMaxOwnMessageBytes);
        CHECK(text.size() > 900);
        CHECK(valid_utf8(text));
    }
    SECTION("3,800 bytes of theirs: what fits of ours, shortened") {
        const std::string theirs(3800, 'a');
        n.kubelet_file(kUid, kName, kFile, theirs);
        CHECK(n.run(context_for(kUid, kName), f) == "shortened=1");
        const std::string text = read_all(n.host_path());
        CHECK(text.size() <= k8s::kMaxTerminationMessageBytes);
        CHECK(text.size() > 3900);
        CHECK(text.compare(0, theirs.size(), theirs) == 0);
        CHECK(text.compare(theirs.size(), 13, "\n\ninitwatch: ") == 0);
        CHECK(valid_utf8(text));
    }
    for (size_t size : {size_t{4050}, size_t{4096}, size_t{10000}}) {
        DYNAMIC_SECTION("no room after " << size << " bytes of theirs: nothing written, file untouched") {
            const std::string theirs(size, 'b');
            n.kubelet_file(kUid, kName, kFile, theirs);
            CHECK(n.run(context_for(kUid, kName), f) == "no_room=1");
            CHECK(read_all(n.host_path()) == theirs);
        }
    }
}

TEST_CASE("termination message: hostile files are not followed, not written") {
    Node n;
    // openat2 (5.6+), and the component-wise openat of older kernels.
    n.use_openat2 = GENERATE(true, false);
    INFO("openat2: " << n.use_openat2);
    n.set_mountinfo(n.runtime_mounts() + n.kubelet_line());
    const std::string target = n.dir + "/target";
    write_all(target, "precious\n");
    fs::create_directories(n.pods + "/" + kUid + "/containers/" + kName);

    SECTION("kubelet's file itself: appended to") {
        write_all(n.host_path(), "theirs\n");
        CHECK(n.run() == "written=1");
        CHECK(read_all(n.host_path()).rfind("theirs\n\ninitwatch: init `sh /startup.sh` ended (exit 0)", 0) ==
              0);
    }
    SECTION("a symlink in place of the file") {
        REQUIRE(symlink(target.c_str(), n.host_path().c_str()) == 0);
        CHECK(n.run() == "symlink=1");
    }
    SECTION("a symlink in place of the container's directory") {
        fs::remove_all(n.pods + "/" + kUid + "/containers/" + kName);
        fs::create_directories(n.dir + "/elsewhere");
        fs::copy_file(target, n.dir + "/elsewhere/" + kFile);
        REQUIRE(symlink((n.dir + "/elsewhere").c_str(),
                        (n.pods + "/" + kUid + "/containers/" + kName).c_str()) == 0);
        CHECK(n.run() == "symlink=1");
        CHECK(read_all(n.dir + "/elsewhere/" + kFile) == "precious\n");
    }
    SECTION("a relative symlink out of pods/") {
        REQUIRE(symlink("../../../../../../target", n.host_path().c_str()) == 0);
        CHECK(n.run() == "symlink=1");
    }
    SECTION("a directory") {
        fs::create_directories(n.host_path());
        CHECK(n.run() == "not_regular_file=1");
    }
    SECTION("a FIFO (would block a writer without a reader)") {
        REQUIRE(mkfifo(n.host_path().c_str(), 0600) == 0);
        CHECK(n.run() == "not_regular_file=1");
    }
    SECTION("gone") {
        CHECK(n.run() == "open_failed=1");
        CHECK_FALSE(fs::exists(n.host_path()));  // never created
    }
    CHECK(read_all(target) == "precious\n");
}

TEST_CASE("termination message: a mount naming another pod or container is refused at the finding") {
    Node n;
    const std::string theirs = n.kubelet_file(kOtherUid, kName, kFile, "other pod's message\n");
    const std::string other_name = n.kubelet_file(kUid, "sidecar", kFile, "sidecar's message\n");

    SECTION("another pod's uid") {
        n.set_mountinfo(n.runtime_mounts() + n.kubelet_line(kOtherUid));
        CHECK(n.run() == "wrong_pod=1");
    }
    SECTION("another container of the same pod") {
        n.set_mountinfo(n.runtime_mounts() + n.kubelet_line(kUid, "sidecar"));
        CHECK(n.run() == "wrong_pod=1");
    }
    SECTION("a finding without a pod") {
        n.set_mountinfo(n.runtime_mounts() + n.kubelet_line(kOtherUid));
        CHECK(n.run(meta::FindingContext{}) == "wrong_pod=1");
    }
    CHECK(read_all(theirs) == "other pod's message\n");
    CHECK(read_all(other_name) == "sidecar's message\n");
}

TEST_CASE("termination message: every failure at the exec is the finding's result") {
    Node n;
    n.kubelet_file();

    SECTION("no termination file in the table") {
        n.set_mountinfo(n.runtime_mounts());
        CHECK(n.run() == "no_mount=1");
    }
    SECTION("only on another device") {
        n.set_mountinfo(n.runtime_mounts() +
                        Node::line("0:52", "/var/lib/kubelet/pods/" + kUid + "/containers/server/" + kFile));
        CHECK(n.run() == "device_mismatch=1");
    }
    SECTION("the process is gone") {
        fs::remove_all(n.proc);
        CHECK(n.run() == "mountinfo_unreadable=1");
    }
    SECTION("its pid now belongs to a process that is no namespace init") {
        n.set_mountinfo(n.runtime_mounts() + n.kubelet_line());
        n.set_status("Name:\tsh\nNSpid:\t4242\t17\n");
        CHECK(n.run() == "mountinfo_unreadable=1");
    }
    SECTION("a huge table: read up to 512 KiB, kubelet's mount past it is not found") {
        std::string table = n.runtime_mounts();
        while (table.size() < 2 * k8s::kMaxMountinfoBytes) table += Node::line("0:99", "/x/y/z", "/mnt/many");
        n.set_mountinfo(table + n.kubelet_line());
        CHECK(n.run() == "no_mount=1");
    }
    SECTION("a huge table with kubelet's mount among the runtime's: found") {
        std::string table = n.runtime_mounts() + n.kubelet_line();
        while (table.size() < 2 * k8s::kMaxMountinfoBytes) table += Node::line("0:99", "/x/y/z", "/mnt/many");
        n.set_mountinfo(table);
        CHECK(n.run() == "written=1");
    }
    CHECK(read_all(n.host_path()).find("initwatch: ") == (n.results[0].second ? 0 : std::string::npos));
}

TEST_CASE("termination message: what is counted, what is remembered") {
    Node n;
    n.kubelet_file();
    n.set_mountinfo(n.runtime_mounts() + n.kubelet_line());
    k8s::TerminationMessageSink sink(n.options(4));
    std::vector<k8s::TermResult> seen;
    {
        auto o = n.options(4);
        o.on_result = [&seen](k8s::TermResult r) { seen.push_back(r); };
        k8s::TerminationMessageSink counted(o);
        counted.finding(story_finding(), meta::FindingContext{});  // not about a pod: nothing
        CHECK(seen.empty());
        counted.finding(story_finding(), context_for(kUid, kName));  // a pod, never exec'd: no entry
        REQUIRE(seen.size() == 1);
        CHECK(seen[0] == k8s::TermResult::no_mount);
    }

    // Execs that are not a namespace init's are ignored; the table is bounded in count.
    model::ExecEvent host = init_exec();
    host.task.ns_level = 0;
    sink.event(host, nullptr);
    model::ExecEvent child = init_exec();
    child.task.ns_pid = 7;
    sink.event(child, nullptr);
    CHECK(sink.entries() == 0);
    for (uint64_t cg = 100; cg < 120; ++cg) {
        model::ExecEvent e = init_exec(kPid, cg);
        e.ts_ns += cg;
        sink.event(e, nullptr);
    }
    CHECK(sink.entries() == 4);

    // A second finding about the instance does not write twice.
    sink.event(init_exec(), nullptr);
    sink.finding(story_finding(), context_for(kUid, kName));
    sink.finding(story_finding(), context_for(kUid, kName));
    const auto results = sink.results();
    REQUIRE(results.size() == k8s::kTermResults);
    CHECK(results[0] == std::make_pair(std::string("written"), uint64_t{1}));
    CHECK(results[3] == std::make_pair(std::string("no_mount"), uint64_t{0}));
    CHECK(results[11] == std::make_pair(std::string("already_written"), uint64_t{1}));
    CHECK(read_all(n.host_path()).rfind("initwatch: ") == 0);

    // Exited instances whose finding never came age out.
    model::ExitEvent exit;
    exit.ts_ns = 2'000'000'000;
    exit.ns_init = true;
    exit.task = init_exec(kPid, 119).task;
    sink.event(exit, nullptr);
    for (uint64_t cg : {500, 501}) {
        model::ExecEvent later = init_exec(kPid, cg);
        later.ts_ns = exit.ts_ns + 61'000'000'000ULL;
        sink.event(later, nullptr);
    }
    CHECK(sink.entries() == 4);
    CHECK_FALSE(sink.remembers(119));  // exited a minute ago: it went first
    CHECK(sink.remembers(117));        // older, but its init still runs
    CHECK(sink.remembers(501));
}

// Issue 26: 10 pid namespaces nested in one container appended 10 notes (4,031 bytes) to its
// file, and each read the container's mount table again on the event loop.
TEST_CASE("termination message: one note per container instance, its mount table read once") {
    Node n;
    n.kubelet_file();
    n.set_mountinfo(n.runtime_mounts() + n.kubelet_line());
    k8s::TerminationMessageSink sink(n.options());
    sink.event(init_exec(), nullptr);
    // From now on the container's mount table cannot be read: a second read would fail.
    fs::remove(n.proc + "/" + std::to_string(kPid) + "/mountinfo");
    for (uint32_t nested = 0; nested < 10; ++nested) {
        model::ExecEvent e = init_exec(kPid + 1 + nested);
        e.task.ns_level = 2 + nested;
        sink.event(e, nullptr);
        model::ExitEvent exit;
        exit.ns_init = true;
        exit.task = e.task;
        sink.event(exit, nullptr);
        sink.finding(story_finding(), context_for(kUid, kName));
    }
    CHECK(sink.entries() == 1);
    const std::string text = read_all(n.host_path());
    size_t notes = 0;
    for (size_t at = text.find("initwatch: "); at != std::string::npos; at = text.find("initwatch: ", at + 1))
        ++notes;
    WARN("10 nested namespaces' findings: " << notes << " note, " << text.size() << " bytes in the file");
    CHECK(notes == 1);
    const auto results = sink.results();
    CHECK(results[0].second == 1);   // written
    CHECK(results[11].second == 9);  // already_written
    CHECK(results[4].second == 0);   // mountinfo_unreadable: never read again
}
