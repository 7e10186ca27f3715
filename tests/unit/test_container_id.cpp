#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "meta/container_id.h"

using initwatch::meta::parse_cgroup_path;

namespace {

struct Row {
    std::string layout;  // what the row is about, shown on failure
    std::string path;
    std::string runtime;  // "" when the path must not resolve
    std::string id;
    std::optional<std::string> pod_uid;
    std::optional<std::string> qos;
};

// Ids and UIDs come from public bug reports and test suites, so the shapes are the ones seen on real
// nodes (`cat /proc/<pid>/cgroup`, `systemd-cgls`).
const std::string kind_node = "1c6a4a3f3a5b0b8f9f1d2e3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2";

// An attacker pod allowed to create cgroups, and the pod whose identity it wants.
const std::string attacker_id = "52371e0edd6309da3d4eaee6d303aa3401abbef92c34c2b1ddba7b28d82d6cb0";
const std::string attacker_uid = "72f9a42e-50d3-47ee-8ec7-0bccfb6ea7ae";
const std::string attacker_cgroupfs = "/kubepods/besteffort/pod" + attacker_uid + "/" + attacker_id;
const std::string attacker_systemd =
    "/kubepods.slice/kubepods-besteffort.slice/"
    "kubepods-besteffort-pod72f9a42e_50d3_47ee_8ec7_0bccfb6ea7ae.slice/"
    "cri-containerd-" +
    attacker_id + ".scope";
const std::string victim_id = "e58a24d4a722c99712cff74ef69d93311089584eb32617b3890e0dcb996133f1";
const std::string victim_uid = "7fda01c4-0ece-403d-88b4-c371d66d132a";
const std::string victim_uid_ = "7fda01c4_0ece_403d_88b4_c371d66d132a";
const std::string victim_systemd = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                   victim_uid_ + ".slice/cri-containerd-" + victim_id + ".scope";

const std::vector<Row> rows = {
    // containerd with the systemd driver (k3s on colima, cryptnono#47)
    {"containerd systemd, besteffort",
     "/kubepods.slice/kubepods-besteffort.slice/"
     "kubepods-besteffort-pod7fda01c4_0ece_403d_88b4_c371d66d132a.slice/"
     "cri-containerd-e58a24d4a722c99712cff74ef69d93311089584eb32617b3890e0dcb996133f1.scope",
     "containerd", "e58a24d4a722c99712cff74ef69d93311089584eb32617b3890e0dcb996133f1",
     "7fda01c4-0ece-403d-88b4-c371d66d132a", "besteffort"},
    {"containerd systemd, guaranteed has no QoS slice (netdata#4868)",
     "/kubepods.slice/kubepods-pod91f5b561_369f_4103_8015_66391059996a.slice/"
     "cri-containerd-24c53b774a586f06abc058619b47f71d9d869ac50c92898adbd199106fd0aaeb.scope",
     "containerd", "24c53b774a586f06abc058619b47f71d9d869ac50c92898adbd199106fd0aaeb",
     "91f5b561-369f-4103-8015-66391059996a", "guaranteed"},
    {"containerd systemd, burstable",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-podd84adcbc_b3e3_4f4f_9560_fa2e7c3d1a73.slice/"
     "cri-containerd-1ddb9e8fe53f6d5639d50a764206953da44f4c1765591d3be9a00c54614baff7.scope",
     "containerd", "1ddb9e8fe53f6d5639d50a764206953da44f4c1765591d3be9a00c54614baff7",
     "d84adcbc-b3e3-4f4f-9560-fa2e7c3d1a73", "burstable"},
    {"static pod: the UID is the manifest's 32-hex hash",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5b6f9a39c5f1b62a1a8a0b16b1a9e8c5.slice/"
     "cri-containerd-0e768f8db752fcd648adb264498daa1d8f31562320e881d6a9ec593d24b1f779.scope",
     "containerd", "0e768f8db752fcd648adb264498daa1d8f31562320e881d6a9ec593d24b1f779",
     "5b6f9a39c5f1b62a1a8a0b16b1a9e8c5", "burstable"},
    {"kind node seen from the host: the node container, not a pod it claims (containerd/nri#227)",
     "/system.slice/docker-" + kind_node +
         ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
         "kubelet-kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/"
         "cri-containerd-a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e.scope",
     "docker", kind_node, std::nullopt, std::nullopt},
    {"kind node seen from inside (cgroup namespace): kubelet's cgroupRoot /kubelet, systemd",
     "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
     "kubelet-kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/"
     "cri-containerd-a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e.scope",
     "containerd", "a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e",
     "1e597579-417e-482f-bf65-5fe170c3aebd", "besteffort"},
    {"kind node seen from inside, guaranteed pod",
     "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/"
     "cri-containerd-a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e.scope",
     "containerd", "a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e",
     "1e597579-417e-482f-bf65-5fe170c3aebd", "guaranteed"},
    {"kind node seen from inside, cgroupfs driver: /kubelet/kubepods",
     "/kubelet/kubepods/burstable/podc458de04-9784-4f7a-990e-cefe26b511f0/"
     "01aa0bfe91e8a58da5f1f4db469fa999fe9263c702111e611445cde2b9cb0c1a",
     "containerd", "01aa0bfe91e8a58da5f1f4db469fa999fe9263c702111e611445cde2b9cb0c1a",
     "c458de04-9784-4f7a-990e-cefe26b511f0", "burstable"},
    {"kubelet systemd + runc cgroupfs writes the slice:prefix:id literally (elastic apm#164)",
     "/system.slice/containerd.service/kubepods-burstable-podff49d0be_16b7_4a49_bb9e_8ec1f1f4e27f.slice:"
     "cri-containerd:0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef",
     "containerd", "0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef",
     "ff49d0be-16b7-4a49-bb9e-8ec1f1f4e27f", "burstable"},

    // cgroupfs driver (GKE, k3s, minikube)
    {"cgroupfs burstable (GKE)",
     "/kubepods/burstable/podc458de04-9784-4f7a-990e-cefe26b511f0/"
     "01aa0bfe91e8a58da5f1f4db469fa999fe9263c702111e611445cde2b9cb0c1a",
     "containerd", "01aa0bfe91e8a58da5f1f4db469fa999fe9263c702111e611445cde2b9cb0c1a",
     "c458de04-9784-4f7a-990e-cefe26b511f0", "burstable"},
    {"cgroupfs guaranteed has no QoS level",
     "/kubepods/pod8dbc5577-d0e2-4706-8787-57d52c03ddf2/"
     "14011c7d92a9e513dfd69211da0413dbf319a5e45a02b354ba6e98e10272542d",
     "containerd", "14011c7d92a9e513dfd69211da0413dbf319a5e45a02b354ba6e98e10272542d",
     "8dbc5577-d0e2-4706-8787-57d52c03ddf2", "guaranteed"},
    {"cgroupfs inside a node container (k3d) seen from the host: the node container",
     "/docker/" + kind_node +
         "/kubepods/besteffort/pod72f9a42e-50d3-47ee-8ec7-0bccfb6ea7ae/"
         "52371e0edd6309da3d4eaee6d303aa3401abbef92c34c2b1ddba7b28d82d6cb0",
     "docker", kind_node, std::nullopt, std::nullopt},
    {"cri-o cgroupfs names the container crio-<id>",
     "/kubepods/besteffort/pod2ca4a155-3599-498d-bb9d-4446693fa3ea/"
     "crio-358607a37e7ada357032e7f5729c9ae6a3efdb7962acbcbe47ff6a3c5506cb1c",
     "cri-o", "358607a37e7ada357032e7f5729c9ae6a3efdb7962acbcbe47ff6a3c5506cb1c",
     "2ca4a155-3599-498d-bb9d-4446693fa3ea", "besteffort"},

    // CRI-O with the systemd driver
    {"cri-o systemd (OpenShift)",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod9b7969b2_aad0_47d4_b11c_4acfd1ce018e.slice/"
     "crio-9b9ccc15d288aa0f7d3bf7b583993921bf261edfeff3467765ab81e687c6a889.scope",
     "cri-o", "9b9ccc15d288aa0f7d3bf7b583993921bf261edfeff3467765ab81e687c6a889",
     "9b7969b2-aad0-47d4-b11c-4acfd1ce018e", "burstable"},
    {"cri-o in a minikube node under /docker/<node> seen from the host: the node (minikube#11280)",
     "/docker/d6701ec289c56e4391acb11d07474b3139466857a305490575508a8b7a9fcf22/kubepods.slice/"
     "kubepods-besteffort.slice/kubepods-besteffort-podae7a96fb_2bdc_46b0_96e2_78e4af94847b.slice/"
     "crio-89e8f450417b56acf3089925dfd8f050dd50e950e18cfe83ea923269df601102.scope",
     "docker", "d6701ec289c56e4391acb11d07474b3139466857a305490575508a8b7a9fcf22", std::nullopt,
     std::nullopt},
    {"crun's own 'container' sub-cgroup is the container",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod9b7969b2_aad0_47d4_b11c_4acfd1ce018e.slice/"
     "crio-9b9ccc15d288aa0f7d3bf7b583993921bf261edfeff3467765ab81e687c6a889.scope/container",
     "cri-o", "9b9ccc15d288aa0f7d3bf7b583993921bf261edfeff3467765ab81e687c6a889",
     "9b7969b2-aad0-47d4-b11c-4acfd1ce018e", "burstable"},

    // Docker
    {"docker systemd (neuvector cgroup tests)",
     "/system.slice/docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope", "docker",
     "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d", std::nullopt, std::nullopt},
    {"docker cgroupfs", "/docker/3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860", "docker",
     "3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860", std::nullopt, std::nullopt},
    {"Kubernetes on Docker (cri-dockerd, systemd)",
     "/kubepods.slice/kubepods-besteffort.slice/"
     "kubepods-besteffort-pod9692aa0e_748e_11e8_8dfa_76d458035df6.slice/"
     "docker-abddff03dfd7710c79a750ce3e730365cbb2c8247a974170c1062683bc3e9152.scope",
     "docker", "abddff03dfd7710c79a750ce3e730365cbb2c8247a974170c1062683bc3e9152",
     "9692aa0e-748e-11e8-8dfa-76d458035df6", "besteffort"},
    {"Docker-in-Docker: the outer container, which owns (and names) what is below it",
     "/docker/" + kind_node + "/docker/4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970",
     "docker", kind_node, std::nullopt, std::nullopt},
    {"Docker-in-Docker under a systemd-driver outer container (cgroupns on cgroup v2): the outer",
     "/system.slice/docker-" + kind_node +
         ".scope/docker/4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970",
     "docker", kind_node, std::nullopt, std::nullopt},
    {"Docker-in-Docker: the outer container's own processes moved to 'init'",
     "/docker/" + kind_node + "/init", "docker", kind_node, std::nullopt, std::nullopt},
    {"systemd as a container's PID 1 (the kind node's init)",
     "/system.slice/docker-" + kind_node + ".scope/init.scope", "docker", kind_node, std::nullopt,
     std::nullopt},

    // podman
    {"podman rootful systemd",
     "/machine.slice/libpod-b5f9e50cdd896032d249140bd810dee41beaf9bd371796035fdfe1ef84797411.scope", "podman",
     "b5f9e50cdd896032d249140bd810dee41beaf9bd371796035fdfe1ef84797411", std::nullopt, std::nullopt},
    {"podman rootless systemd with crun's sub-cgroup",
     "/user.slice/user-1000.slice/user@1000.service/user.slice/"
     "libpod-b5f9e50cdd896032d249140bd810dee41beaf9bd371796035fdfe1ef84797411.scope/container",
     "podman", "b5f9e50cdd896032d249140bd810dee41beaf9bd371796035fdfe1ef84797411", std::nullopt,
     std::nullopt},
    {"podman cgroupfs (podman#22264)",
     "/libpod_parent/libpod-a0442b6cb250349aaca3435df7ef3ca0dfca4f88e885ed68575a0380554cc90d", "podman",
     "a0442b6cb250349aaca3435df7ef3ca0dfca4f88e885ed68575a0380554cc90d", std::nullopt, std::nullopt},

    // containerd without Kubernetes, runc
    {"ctr run: containerd's default /<namespace>/<id>",
     "/default/8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5", "containerd",
     "8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5", std::nullopt, std::nullopt},
    {"ctr -n k8s.io run", "/k8s.io/80c6074ac26c2c087cc5a6644aa37aceae4900aeeb9b580e039e75474286b970",
     "containerd", "80c6074ac26c2c087cc5a6644aa37aceae4900aeeb9b580e039e75474286b970", std::nullopt,
     std::nullopt},
    {"runc's systemd default, a user-chosen name", "/system.slice/runc-my_app-1.scope", "runc", "my_app-1",
     std::nullopt, std::nullopt},

    // Not a container, or not one we can name without guessing
    {"the root", "/", "", "", std::nullopt, std::nullopt},
    {"empty", "", "", "", std::nullopt, std::nullopt},
    {"a system service", "/system.slice/containerd.service", "", "", std::nullopt, std::nullopt},
    {"a login session", "/user.slice/user-1000.slice/session-3.scope", "", "", std::nullopt, std::nullopt},
    {"the host's PID 1", "/init.scope", "", "", std::nullopt, std::nullopt},
    {"initwatch run's own cgroup", "/initwatch/run-4731", "", "", std::nullopt, std::nullopt},
    {"CRI-O's conmon scope is not the container",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod207aaad1_659f_4db8_88e0_46e0cdcc3004.slice/"
     "crio-conmon-32da98c8522068be05a7510a3eddb09cad6ed2f03286180d0e931d0d0b6224a6.scope",
     "", "", std::nullopt, std::nullopt},
    {"CRI-O's conmon with cgroupfs",
     "/kubepods/besteffort/pod2ca4a155-3599-498d-bb9d-4446693fa3ea/"
     "crio-conmon-358607a37e7ada357032e7f5729c9ae6a3efdb7962acbcbe47ff6a3c5506cb1c",
     "", "", std::nullopt, std::nullopt},
    {"podman's conmon scope is not the container",
     "/machine.slice/libpod-conmon-b5f9e50cdd896032d249140bd810dee41beaf9bd371796035fdfe1ef84797411.scope",
     "", "", std::nullopt, std::nullopt},
    {"a pod slice is not a container",
     "/kubepods.slice/kubepods-besteffort.slice/"
     "kubepods-besteffort-pod7fda01c4_0ece_403d_88b4_c371d66d132a.slice",
     "", "", std::nullopt, std::nullopt},
    {"a pod directory inside a node container is the node's",
     "/docker/" + kind_node + "/kubepods/burstable/podc458de04-9784-4f7a-990e-cefe26b511f0", "docker",
     kind_node, std::nullopt, std::nullopt},
    {"a service inside a systemd container is the container's",
     "/system.slice/docker-" + kind_node + ".scope/system.slice/containerd.service", "docker", kind_node,
     std::nullopt, std::nullopt},
    {"truncated id (docker ps's 12 characters)", "/system.slice/docker-9ec39b91f3d7.scope", "", "",
     std::nullopt, std::nullopt},
    {"63 hex characters",
     "/system.slice/docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3.scope", "", "",
     std::nullopt, std::nullopt},
    {"uppercase hex is not a runtime id",
     "/system.slice/docker-9EC39B91F3D70E1BEFF50A308F77067065EA6BE0D91A3378375056CD4422CF3D.scope", "", "",
     std::nullopt, std::nullopt},
    {"a bare id under an unknown parent (docker --cgroup-parent, custom runc cgroupsPath)",
     "/actions_job/3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860", "", "", std::nullopt,
     std::nullopt},
    {"a bare id at the top (runc cgroupfs default) could be anything",
     "/3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860", "", "", std::nullopt, std::nullopt},
    {"ctr's non-hex names are not validated ids", "/default/redis", "", "", std::nullopt, std::nullopt},
    {"a containerd namespace below the top is some other parent",
     "/system.slice/default/8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5", "", "",
     std::nullopt, std::nullopt},
    {"buildkit under docker (cryptnono#47)", "/docker/buildkit/t4967jvf8rbufklrhkicskyes", "", "",
     std::nullopt, std::nullopt},
    {"Talos system containers", "/system/etcd", "", "", std::nullopt, std::nullopt},
    {"a bare id under a pod directory outside kubepods",
     "/burstable/podc458de04-9784-4f7a-990e-cefe26b511f0/"
     "01aa0bfe91e8a58da5f1f4db469fa999fe9263c702111e611445cde2b9cb0c1a",
     "", "", std::nullopt, std::nullopt},
    {"two own sub-cgroups deep is still the container's",
     "/system.slice/docker-" + kind_node + ".scope/init.scope/container", "docker", kind_node, std::nullopt,
     std::nullopt},

    // Forgery: a container allowed to create cgroups (DinD, kind, sysbox, privileged) makes a victim
    // pod's path below its own. The identity is the attacker's, never the victim's.
    {"a pod (cgroupfs) nesting a victim pod's cgroupfs path is the attacker pod",
     attacker_cgroupfs + "/kubepods/burstable/pod" + victim_uid + "/" + victim_id, "containerd", attacker_id,
     attacker_uid, "besteffort"},
    {"a pod nesting a victim pod's systemd path is the attacker pod", attacker_cgroupfs + victim_systemd,
     "containerd", attacker_id, attacker_uid, "besteffort"},
    {"a systemd pod nesting a victim pod's cgroupfs path is the attacker pod",
     attacker_systemd + "/kubepods/pod" + victim_uid + "/" + victim_id, "containerd", attacker_id,
     attacker_uid, "besteffort"},
    {"a pod nesting a victim's slice:cri-containerd:id literal is the attacker pod",
     attacker_cgroupfs + "/system.slice/containerd.service/kubepods-burstable-pod" + victim_uid_ +
         ".slice:cri-containerd:" + victim_id,
     "containerd", attacker_id, attacker_uid, "besteffort"},
    {"a pod nesting kind's /kubelet hierarchy is the attacker pod",
     attacker_cgroupfs + "/kubelet/kubepods/pod" + victim_uid + "/" + victim_id, "containerd", attacker_id,
     attacker_uid, "besteffort"},
    {"a docker container nesting a victim pod is the docker container",
     "/docker/" + attacker_id + "/kubepods/burstable/pod" + victim_uid + "/" + victim_id, "docker",
     attacker_id, std::nullopt, std::nullopt},
    {"an unrecognised cgroup nesting a cgroupfs pod path: nothing is anchored, a bare id is unknown",
     "/initwatch-ktest-3f2a/kubepods/burstable/pod" + victim_uid + "/" + victim_id, "", "", std::nullopt,
     std::nullopt},
    {"an unrecognised cgroup nesting a systemd pod path: the scope's id, never the pod",
     "/actions_job/run-7" + victim_systemd, "containerd", victim_id, std::nullopt, std::nullopt},
    {"a slice:cri-containerd:id literal outside containerd.service has no pod",
     "/actions_job/kubepods-burstable-pod" + victim_uid_ + ".slice:cri-containerd:" + victim_id, "containerd",
     victim_id, std::nullopt, std::nullopt},
    {"a kubepods slice chain that skips the QoS slice is not kubelet's",
     "/kubepods.slice/kubepods-burstable-pod" + victim_uid_ + ".slice/cri-containerd-" + victim_id + ".scope",
     "containerd", victim_id, std::nullopt, std::nullopt},
    {"a pod slice whose parents are not its kubepods slices is not kubelet's",
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod" + victim_uid_ +
         ".slice/cri-containerd-" + victim_id + ".scope",
     "containerd", victim_id, std::nullopt, std::nullopt},
    {"kind's slice prefix at the root without kubelet.slice above is not kubelet's",
     "/kubelet-kubepods.slice/kubelet-kubepods-pod" + victim_uid_ + ".slice/cri-containerd-" + victim_id +
         ".scope",
     "containerd", victim_id, std::nullopt, std::nullopt},
    {"a docker bare id below the top is not docker's /docker/<id>", "/actions_job/docker/" + victim_id, "",
     "", std::nullopt, std::nullopt},
};

}  // namespace

TEST_CASE("container ids from real cgroup v2 paths, and no id when the layout is not certain") {
    const Row row = GENERATE(from_range(rows));
    INFO(row.layout << "\n  " << row.path);
    const auto ref = parse_cgroup_path(row.path);
    if (row.runtime.empty()) {
        CHECK_FALSE(ref);
        return;
    }
    REQUIRE(ref);
    CHECK(ref->runtime == row.runtime);
    CHECK(ref->id == row.id);
    CHECK(ref->pod_uid.value_or("(none)") == row.pod_uid.value_or("(none)"));
    CHECK(ref->qos.value_or("(none)") == row.qos.value_or("(none)"));
}

TEST_CASE("a pod slice must be a kubepods slice for a pod UID") {
    const std::string id = "e58a24d4a722c99712cff74ef69d93311089584eb32617b3890e0dcb996133f1";
    const auto ref = parse_cgroup_path(
        "/machine.slice/machine-pod7fda01c4_0ece_403d_88b4_c371d66d132a.slice/"
        "cri-containerd-" +
        id + ".scope");
    REQUIRE(ref);
    CHECK(ref->id == id);
    CHECK_FALSE(ref->pod_uid);
    CHECK_FALSE(ref->qos);
}

TEST_CASE("a malformed pod UID gives the container without a pod") {
    const std::string id = "e58a24d4a722c99712cff74ef69d93311089584eb32617b3890e0dcb996133f1";
    for (const std::string uid :
         {"7fda01c4_0ece_403d_88b4_c371d66d132", "7FDA01C4_0ECE_403D_88B4_C371D66D132A",
          "7fda01c4-0ece-403d-88b4-c371d66d132a", "7fda01c40ece_403d_88b4_c371d66d132a_"}) {
        INFO(uid);
        const auto ref = parse_cgroup_path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                           uid + ".slice/cri-containerd-" + id + ".scope");
        REQUIRE(ref);
        CHECK(ref->id == id);
        CHECK_FALSE(ref->pod_uid);
    }
}

TEST_CASE("trailing and repeated slashes do not change the answer") {
    const auto ref =
        parse_cgroup_path("//docker//3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860/");
    REQUIRE(ref);
    CHECK(ref->runtime == "docker");
}

TEST_CASE("a trusted node root: the pods of a kind node seen from its host, and the node itself") {
    const std::string node_root = "/system.slice/docker-" + kind_node + ".scope";
    const std::vector<std::string> roots{"/system.slice/docker-" + attacker_id + ".scope", node_root + "/"};
    const std::string inner =
        "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
        "kubelet-kubepods-besteffort-pod" +
        victim_uid_ + ".slice/cri-containerd-" + victim_id + ".scope";

    const auto pod = parse_cgroup_path(node_root + inner, roots);
    REQUIRE(pod);
    CHECK(pod->runtime == "containerd");
    CHECK(pod->id == victim_id);
    CHECK(pod->pod_uid == victim_uid);
    CHECK(pod->qos == "besteffort");

    SECTION("not configured: the node container") {
        const auto node = parse_cgroup_path(node_root + inner);
        REQUIRE(node);
        CHECK(node->id == kind_node);
        CHECK_FALSE(node->pod_uid);
    }
    SECTION("the node's own processes and services are the node container") {
        for (const std::string& below :
             {std::string(""), std::string("/init.scope"), std::string("/system.slice/containerd.service")}) {
            INFO(below);
            const auto node = parse_cgroup_path(node_root + below, roots);
            REQUIRE(node);
            CHECK(node->runtime == "docker");
            CHECK(node->id == kind_node);
        }
    }
    SECTION("a pod of the trusted node nesting another pod's path is still that pod") {
        const auto nested = parse_cgroup_path(node_root + inner + attacker_cgroupfs, roots);
        REQUIRE(nested);
        CHECK(nested->id == victim_id);
        CHECK(nested->pod_uid == victim_uid);
    }
    SECTION("a node root must be a whole-segment prefix") {
        const auto other = parse_cgroup_path("/system.slice/docker-" + kind_node + ".scope2" + inner, roots);
        REQUIRE(other);
        CHECK(other->id == victim_id);
        CHECK_FALSE(other->pod_uid);  // nothing above kubelet.slice is trusted there
    }
}
