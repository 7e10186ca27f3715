#!/usr/bin/env bash
# Offline checks of the deployment files, no cluster needed:
#   1. `kustomize build deploy/kubernetes` renders (kubectl's --dry-run=client, apply or
#      create, needs an API server for discovery even with --validate=false: not usable).
#   2. Every object is checked against a schema of the Kubernetes API fields it uses
#      (unknown or misspelled fields and wrong types fail, as the API server's strict
#      validation would), then against what this agent must be: hostPID, capabilities
#      exactly those tests/deploy/test_capabilities.sh proves, read-only root and mounts,
#      no service account token, probes on the named metrics port, no /var/log/pods mount,
#      system-node-critical, memory request = limit, a NetworkPolicy admitting the metrics
#      port only from the monitoring namespace, and so on.
#   2b. An overlay as the deploy steps of docs/kubernetes.md make it (image by digest, another monitoring
#      namespace through the patch kustomization.yaml documents) renders and changes that.
#   2c. An overlay with components/termination-message renders; it adds only the flag and
#      a writable mount of the host's /var/lib/kubelet/pods, which the base has not.
#   3. The Dockerfile agrees: entrypoint, metrics port.
#   4. With INITWATCH_BUILD_IMAGE=1, `buildah bud` builds the image, if the base images
#      (debian:12, debian:12-slim) are in local storage; there is no registry to pull from
#      here.
# Needs kustomize (tools/setup --test puts Debian 13's in the cache: Debian 12's kubectl 1.20
# is too old for components; $KUSTOMIZE overrides) and python3-yaml.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)

KUSTOMIZE=${KUSTOMIZE:-${INITWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/initwatch}/bin/kustomize}
[[ -x $KUSTOMIZE ]] || { echo "test_manifests: $KUSTOMIZE missing (run tools/setup --test)" >&2; exit 1; }
kustomize_build() { "$KUSTOMIZE" build "$@"; }
command -v python3 >/dev/null || { echo "test_manifests: python3 missing" >&2; exit 1; }
python3 -c 'import yaml' 2>/dev/null || { echo "test_manifests: python3-yaml missing" >&2; exit 1; }

rendered=$(mktemp)
overlay=$(mktemp -d)
trap 'rm -rf "$rendered" "$overlay" "$overlay.yaml"' EXIT
kustomize_build "$top/deploy/kubernetes" >"$rendered"
echo "ok   kustomize build deploy/kubernetes"

# The overlay of kustomization.yaml's comments: kustomize wants a relative path to the base.
digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
base=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$top/deploy/kubernetes" "$overlay")
cat >"$overlay/kustomization.yaml" <<OVERLAY
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $base
images:
  - name: initwatch
    newName: registry.example.com/initwatch
    digest: $digest
patches:
  - target: {kind: NetworkPolicy, name: initwatch-metrics}
    patch: |-
      - op: replace
        path: /spec/ingress/0/from/0/namespaceSelector/matchLabels
        value: {kubernetes.io/metadata.name: prometheus}
OVERLAY
kustomize_build "$overlay" >"$overlay.yaml"
echo "ok   kustomize build of an overlay (image by digest, another monitoring namespace)"

# The capability set the proof script tests: the manifest must add exactly this.
proven=$(sed -n 's/^minimal=(\(.*\))$/\1/p' "$top/tests/deploy/test_capabilities.sh")

python3 - "$rendered" "$top/deploy/kubernetes/daemonset.yaml" "$top/Dockerfile" "$proven" "$overlay.yaml" "$digest" <<'PYTHON'
import json
import os
import re
import sys

import yaml

rendered_path, raw_path, dockerfile_path, proven, overlay_path, digest = sys.argv[1:]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


# --- 1. A schema of the API fields used (Kubernetes 1.25+ API reference) -------------------
# A dict maps field -> schema; "str", "int", "bool", "intstr", "quantity" are leaves;
# [schema] is a list of it; "map" is a string->string map.
PROBE = {"httpGet": {"path": "str", "port": "intstr", "scheme": "str"},
         "initialDelaySeconds": "int", "periodSeconds": "int", "timeoutSeconds": "int",
         "failureThreshold": "int", "successThreshold": "int"}
CONTAINER = {
    "name": "str", "image": "str", "imagePullPolicy": "str", "args": ["str"], "command": ["str"],
    "env": [{"name": "str", "value": "str",
             "valueFrom": {"fieldRef": {"fieldPath": "str", "apiVersion": "str"}}}],
    "ports": [{"name": "str", "containerPort": "int", "protocol": "str"}],
    "startupProbe": PROBE, "livenessProbe": PROBE, "readinessProbe": PROBE,
    "resources": {"requests": {"cpu": "quantity", "memory": "quantity"},
                  "limits": {"cpu": "quantity", "memory": "quantity"}},
    "securityContext": {
        "runAsUser": "int", "runAsGroup": "int", "runAsNonRoot": "bool", "privileged": "bool",
        "allowPrivilegeEscalation": "bool", "readOnlyRootFilesystem": "bool",
        "capabilities": {"add": ["str"], "drop": ["str"]},
        "seccompProfile": {"type": "str", "localhostProfile": "str"}},
    "volumeMounts": [{"name": "str", "mountPath": "str", "readOnly": "bool",
                      "mountPropagation": "str", "subPath": "str"}],
}
METADATA = {"name": "str", "namespace": "str", "labels": "map", "annotations": "map"}
LABEL_SELECTOR = {"matchLabels": "map",
                  "matchExpressions": [{"key": "str", "operator": "str", "values": ["str"]}]}
POLICY_PEER = {"podSelector": LABEL_SELECTOR, "namespaceSelector": LABEL_SELECTOR,
               "ipBlock": {"cidr": "str", "except": ["str"]}}
POLICY_PORT = {"port": "intstr", "endPort": "int", "protocol": "str"}
SCHEMAS = {
    ("v1", "Namespace"): {"apiVersion": "str", "kind": "str", "metadata": METADATA},
    ("v1", "ServiceAccount"): {"apiVersion": "str", "kind": "str", "metadata": METADATA,
                               "automountServiceAccountToken": "bool"},
    ("v1", "Service"): {"apiVersion": "str", "kind": "str", "metadata": METADATA, "spec": {
        "clusterIP": "str", "selector": "map", "type": "str",
        "ports": [{"name": "str", "port": "int", "targetPort": "intstr", "protocol": "str"}]}},
    ("apps/v1", "DaemonSet"): {"apiVersion": "str", "kind": "str", "metadata": METADATA, "spec": {
        "selector": {"matchLabels": "map"},
        "updateStrategy": {"type": "str", "rollingUpdate": {"maxUnavailable": "intstr", "maxSurge": "intstr"}},
        "minReadySeconds": "int",
        "template": {"metadata": METADATA, "spec": {
            "serviceAccountName": "str", "automountServiceAccountToken": "bool", "hostPID": "bool",
            "hostNetwork": "bool", "priorityClassName": "str", "nodeSelector": "map",
            "terminationGracePeriodSeconds": "int",
            "tolerations": [{"key": "str", "operator": "str", "value": "str", "effect": "str",
                             "tolerationSeconds": "int"}],
            "containers": [CONTAINER],
            "volumes": [{"name": "str", "hostPath": {"path": "str", "type": "str"}}]}}}},
    ("networking.k8s.io/v1", "NetworkPolicy"): {"apiVersion": "str", "kind": "str", "metadata": METADATA, "spec": {
        "podSelector": LABEL_SELECTOR, "policyTypes": ["str"],
        "ingress": [{"from": [POLICY_PEER], "ports": [POLICY_PORT]}],
        "egress": [{"to": [POLICY_PEER], "ports": [POLICY_PORT]}]}},
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): {"apiVersion": "str", "kind": "str", "metadata": METADATA,
        "rules": [{"apiGroups": ["str"], "resources": ["str"], "verbs": ["str"], "resourceNames": ["str"]}]},
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): {"apiVersion": "str", "kind": "str", "metadata": METADATA,
        "roleRef": {"apiGroup": "str", "kind": "str", "name": "str"},
        "subjects": [{"kind": "str", "name": "str", "namespace": "str", "apiGroup": "str"}]},
    ("v1", "ResourceQuota"): {"apiVersion": "str", "kind": "str", "metadata": METADATA, "spec": {
        "hard": "map", "scopes": ["str"],
        "scopeSelector": {"matchExpressions": [{"scopeName": "str", "operator": "str", "values": ["str"]}]}}},
}
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
ENUMS = {
    "imagePullPolicy": {"Always", "IfNotPresent", "Never"},
    "protocol": {"TCP", "UDP", "SCTP"},
    "tolerations.operator": {"Exists", "Equal"},
    "hostPath.type": {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                      "CharDevice", "BlockDevice"},
    "seccompProfile.type": {"RuntimeDefault", "Unconfined", "Localhost"},
    "updateStrategy.type": {"RollingUpdate", "OnDelete"},
    "policyTypes": {"Ingress", "Egress"},
    "scopeSelector.matchExpressions.operator": {"In", "NotIn", "Exists", "DoesNotExist"},
}


def validate(value, schema, path):
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return check(False, f"{path}: expected an object")
        for key, sub in value.items():
            if key not in schema:
                check(False, f"{path}.{key}: unknown field")
            else:
                validate(sub, schema[key], f"{path}.{key}")
        return
    if isinstance(schema, list):
        if not isinstance(value, list):
            return check(False, f"{path}: expected a list")
        for i, item in enumerate(value):
            validate(item, schema[0], f"{path}[{i}]")
        return
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "intstr": isinstance(value, (int, str)) and not isinstance(value, bool),
        "quantity": isinstance(value, str) and QUANTITY.match(value) is not None,
        "map": isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in value.items()),
    }[schema]
    if not ok:
        check(False, f"{path}: {value!r} is not a {schema}")
    for suffix, allowed in ENUMS.items():
        if re.sub(r"\[[0-9]+\]", "", path).endswith("." + suffix) and value not in allowed:
            check(False, f"{path}: {value!r} not one of {sorted(allowed)}")


docs = [d for d in yaml.safe_load_all(open(rendered_path)) if d is not None]
by_kind = {}
for d in docs:
    key = (d.get("apiVersion"), d.get("kind"))
    check(key in SCHEMAS, f"{key[1]} {key[0]} is a known object")
    if key in SCHEMAS:
        n = len(failures)
        validate(d, SCHEMAS[key], d["kind"])
        check(len(failures) == n, f"{d['kind']} {d['metadata']['name']}: every field known and well typed")
    by_kind[d["kind"]] = d

# --- 2. What the agent must be ----------------------------------------------------------------
def c_args_of(pod_spec):
    return pod_spec["containers"][0].get("args", [])


ns = by_kind["Namespace"]["metadata"]["name"]
sa = by_kind["ServiceAccount"]
ds = by_kind["DaemonSet"]
pod = ds["spec"]["template"]["spec"]
meta = ds["spec"]["template"]["metadata"]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
check(all(d["metadata"].get("namespace") == ns for d in docs if d["kind"] not in CLUSTER_SCOPED),
      f"every namespaced object is in namespace {ns}")
check(all("namespace" not in d["metadata"] for d in docs if d["kind"] in CLUSTER_SCOPED),
      "cluster-scoped objects carry no namespace")
check(by_kind["Namespace"]["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "privileged",
      "the namespace admits hostPID/hostPath pods")
check(sa["automountServiceAccountToken"] is False, "ServiceAccount: no token automount for other pods")
check(pod["serviceAccountName"] == sa["metadata"]["name"], "the pod uses that ServiceAccount")
# --kubernetes-events: the token where Events are on, and the rule to write them, no more.
events_on = "--kubernetes-events" in c_args_of(pod)
check(events_on, "args: --kubernetes-events (Events on the pod, on by default)")
check(pod.get("automountServiceAccountToken") is events_on, "pod: the token mounted exactly when Events are on")
role = by_kind.get("ClusterRole", {})
check(role.get("rules") == [{"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}],
      "ClusterRole: create and patch on events in both API groups, nothing else")
binding = by_kind.get("ClusterRoleBinding", {})
check(binding.get("roleRef") == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": role.get("metadata", {}).get("name")}
      and binding.get("subjects") == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": ns}],
      "ClusterRoleBinding: that role to the agent's ServiceAccount only")
check(ds["spec"]["selector"]["matchLabels"].items() <= meta["labels"].items(), "the selector matches the pod labels")
check(pod.get("hostPID") is True, "hostPID")
check(not pod.get("hostNetwork"), "no hostNetwork")
check({"operator": "Exists"} in pod["tolerations"], "tolerates every taint")

containers = pod["containers"]
check(len(containers) == 1, "one container")
c = containers[0]
sc = c["securityContext"]
caps = sc["capabilities"]
check(caps["drop"] == ["ALL"], "capabilities: drop ALL")
check(sorted(caps["add"]) == sorted(x.upper() for x in proven.split()),
      f"capabilities: add exactly {proven.split()}, the set test_capabilities.sh proves")
check(sc.get("privileged") is False, "not privileged")
check(sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
check(sc.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
check(sc.get("runAsUser") == 0, "uid 0 (capabilities do not reach non-root processes)")

volumes = {v["name"]: v for v in pod["volumes"]}
mounts = {m["name"]: m for m in c["volumeMounts"]}
check(set(volumes) == set(mounts), "every volume is mounted, every mount has a volume")
expected = {"/sys/kernel/btf": "/sys/kernel/btf", "/sys/fs/cgroup": "/host/sys/fs/cgroup",
            "/var/log/containers": "/host/var/log/containers"}
got = {volumes[n]["hostPath"]["path"]: mounts[n]["mountPath"] for n in mounts if "hostPath" in volumes[n]}
check(got == expected, f"hostPath mounts {expected}")
# Pod names come from the link text of /var/log/containers: every pod's logs stay unmounted,
# also through a parent directory.
check(not any(("/var/log/pods/").startswith(p.rstrip("/") + "/") for p in got),
      "no hostPath holds /var/log/pods (nor /var/log, nor /)")
check(pod.get("priorityClassName") == "system-node-critical", "priorityClassName: system-node-critical")
check(all(m.get("readOnly") is True for m in mounts.values()), "every mount read-only")

args = c.get("args", [])
check(any(args[i:i + 2] == ["--host-root", "/host"] for i in range(len(args))), "args: --host-root /host")
env = {e["name"]: e for e in c.get("env", [])}
check(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
      "NODE_NAME from spec.nodeName")

ports = {p["name"]: p for p in c["ports"]}
check(ports.get("metrics", {}).get("containerPort") == 9090, "named port metrics = 9090")
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    get = c.get(probe, {}).get("httpGet", {})
    check(get.get("path") == path and get.get("port") == "metrics", f"{probe}: {path} on port metrics")
ann = meta.get("annotations", {})
check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9090"
      and ann.get("prometheus.io/path") == "/metrics", "prometheus.io annotations")


def quantity(q):
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    m = re.match(r"^([0-9.]+)([a-zA-Z]*)$", q)
    return float(m.group(1)) * units.get(m.group(2), 1)


res = c["resources"]
for r in ("cpu", "memory"):
    check(r in res["requests"] and r in res["limits"]
          and quantity(res["requests"][r]) <= quantity(res["limits"][r]), f"resources: {r} request <= limit")
check(res["requests"].get("memory") == res["limits"].get("memory") == "128Mi",
      "resources: memory request = limit = 128Mi")

# The metrics port: only from the monitoring namespace, only that port.
policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
check(len(policies) == 1, "one NetworkPolicy")
if policies:
    spec = policies[0]["spec"]
    selected = spec.get("podSelector", {}).get("matchLabels", {})
    check(bool(selected) and selected.items() <= meta["labels"].items(), "NetworkPolicy selects the agent's pods")
    check("Ingress" in spec.get("policyTypes", []), "NetworkPolicy: policyTypes has Ingress (all else denied)")
    rules = spec.get("ingress", [])
    check(len(rules) == 1, "NetworkPolicy: one ingress rule")
    for rule in rules:
        peers = rule.get("from", [])
        check(len(peers) == 1 and set(peers[0]) == {"namespaceSelector"},
              "NetworkPolicy: from a namespaceSelector only (no ipBlock, no podSelector)")
        sel = peers[0].get("namespaceSelector", {}) if peers else {}
        check(set(sel) == {"matchLabels"} and sel["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"},
              "NetworkPolicy: the namespace is chosen by label kubernetes.io/metadata.name=monitoring "
              "(an empty selector would admit every namespace)")
        check(rule.get("ports") == [{"port": "metrics", "protocol": "TCP"}], "NetworkPolicy: only the metrics port")

quotas = [d for d in docs if d["kind"] == "ResourceQuota"]
check(any(e.get("scopeName") == "PriorityClass" and e.get("operator") == "In"
          and "system-node-critical" in e.get("values", [])
          for q in quotas for e in q["spec"].get("scopeSelector", {}).get("matchExpressions", [])),
      "a ResourceQuota admits system-node-critical pods in the namespace")

# The overlay of the deploy steps of docs/kubernetes.md.
overlay = {d["kind"]: d for d in yaml.safe_load_all(open(overlay_path)) if d}
image = overlay["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["image"]
check(image == "registry.example.com/initwatch@" + digest, f"overlay: the image by digest ({image})")
peer = overlay["NetworkPolicy"]["spec"]["ingress"][0]["from"][0]
check(peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "prometheus"}}},
      "overlay: the documented patch moves the metrics port to another namespace")

svc = by_kind.get("Service")
if svc:
    check(svc["spec"]["selector"].items() <= meta["labels"].items(), "Service selects the pods")
    check(svc["spec"]["ports"][0]["targetPort"] == "metrics", "Service targets the metrics port")

# --- 3. The Dockerfile agrees -----------------------------------------------------------------
dockerfile = open(dockerfile_path).read()
entry = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)
check(entry is not None, "Dockerfile: exec-form ENTRYPOINT")
if entry:
    argv = json.loads(entry.group(1))
    check(argv[:2] == ["/usr/sbin/initwatch", "watch"] and "--json" in argv, "ENTRYPOINT runs initwatch watch --json")
    check(argv[argv.index("--metrics-address") + 1] == ":9090", "ENTRYPOINT serves metrics on :9090")
raw_ds = next(d for d in yaml.safe_load_all(open(raw_path)) if d and d["kind"] == "DaemonSet")
raw_image = raw_ds["spec"]["template"]["spec"]["containers"][0]["image"].split(":")[0]
kustomization = yaml.safe_load(open(raw_path.replace("daemonset.yaml", "kustomization.yaml")))
check(raw_image in {i["name"] for i in kustomization["images"]}, "kustomization.yaml sets the container's image")
# The version is written once, in project(VERSION): the tag, set by kustomization.yaml only, is it.
raw_tag = raw_ds["spec"]["template"]["spec"]["containers"][0]["image"].partition(":")[2]
check(raw_tag == "", f"daemonset.yaml names the image without a tag, kustomization.yaml sets it (tag: {raw_tag or 'none'})")
cmake = open(os.path.join(os.path.dirname(dockerfile_path), "CMakeLists.txt")).read()
version = re.search(r"^project\(initwatch VERSION ([0-9][0-9.]*)", cmake, re.M)
tags = [i.get("newTag") for i in kustomization["images"] if i["name"] == raw_image]
check(version is not None and tags == [version.group(1)],
      f"kustomization.yaml's newTag {tags} is project(VERSION) {version.group(1) if version else None}")

if failures:
    print(f"test_manifests: {len(failures)} failed", file=sys.stderr)
    sys.exit(1)
PYTHON

# --- 2c. The termination-message component (opt-in): an overlay using it renders, and its
# DaemonSet differs from the base's only by the flag and one writable hostPath mount of the
# host's /var/lib/kubelet/pods; the base has neither.
component="$top/deploy/kubernetes/components/termination-message"
with_component=$(mktemp -d)
trap 'rm -rf "$rendered" "$overlay" "$overlay.yaml" "$with_component"' EXIT
cat >"$with_component/kustomization.yaml" <<OVERLAY
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$top/deploy/kubernetes" "$with_component")
components:
  - $(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$component" "$with_component")
OVERLAY
kustomize_build "$with_component" >"$with_component/rendered.yaml"
echo "ok   kustomize build of an overlay with components/termination-message"
python3 - "$rendered" "$with_component/rendered.yaml" "$component/kustomization.yaml" <<'PYTHON'
import copy
import sys

import yaml

base_path, with_path, component_path = sys.argv[1:]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def by_kind(path):
    return {d["kind"]: d for d in yaml.safe_load_all(open(path)) if d}


base, with_c = by_kind(base_path), by_kind(with_path)
component = yaml.safe_load(open(component_path))
check(component.get("kind") == "Component" and component.get("apiVersion") == "kustomize.config.k8s.io/v1alpha1",
      "termination-message: a kustomize Component")
check("PRIVILEGE" in open(component_path).read(), "termination-message: the privilege is documented in the component")
FLAG, HOST, MOUNT = "--termination-message", "/var/lib/kubelet/pods", "/host/var/lib/kubelet/pods"


def parts(ds):
    pod = ds["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


pod, c = parts(with_c["DaemonSet"])
pods_volumes = [v for v in pod["volumes"] if v.get("hostPath", {}).get("path") == HOST]
check(len(pods_volumes) == 1 and pods_volumes[0]["hostPath"].get("type") == "Directory",
      f"component: one hostPath volume of the host's {HOST} (type Directory)")
name = pods_volumes[0]["name"] if pods_volumes else None
mounts = [m for m in c["volumeMounts"] if m["name"] == name]
check(len(mounts) == 1 and mounts[0]["mountPath"] == MOUNT and mounts[0].get("readOnly") is False,
      f"component: mounted writable at {MOUNT} (under --host-root /host)")
check(c["args"].count(FLAG) == 1 and c["args"][:2] == ["--host-root", "/host"], f"component: args add {FLAG}")
check(all(m.get("readOnly") is True for m in c["volumeMounts"] if m["name"] != name),
      "component: every other mount still read-only")

# Nothing else changes: capabilities, securityContext, the other objects.
stripped = copy.deepcopy(with_c["DaemonSet"])
spod, sc = parts(stripped)
spod["volumes"] = [v for v in spod["volumes"] if v["name"] != name]
sc["volumeMounts"] = [m for m in sc["volumeMounts"] if m["name"] != name]
sc["args"] = [a for a in sc["args"] if a != FLAG]
check(stripped == base["DaemonSet"], "component: the DaemonSet is the base's but for the flag and that mount")
check({k: v for k, v in with_c.items() if k != "DaemonSet"} == {k: v for k, v in base.items() if k != "DaemonSet"},
      "component: every other object is the base's")

bpod, bc = parts(base["DaemonSet"])
check(FLAG not in bc.get("args", []), f"base: no {FLAG}")
check(not any(v.get("hostPath", {}).get("path", "").startswith(("/var/lib/kubelet", "/var/lib/"))
              or v.get("hostPath", {}).get("path") in ("/var", "/") for v in bpod["volumes"]),
      "base: no hostPath of /var/lib/kubelet (nor a parent of it)")
check(all(m.get("readOnly") is True for m in bc["volumeMounts"]), "base: no writable mount")

if failures:
    print(f"test_manifests: {len(failures)} failed (termination-message component)", file=sys.stderr)
    sys.exit(1)
PYTHON

if [[ ${INITWATCH_BUILD_IMAGE:-} == 1 ]]; then
    command -v buildah >/dev/null || { echo "test_manifests: buildah missing" >&2; exit 1; }
    store=(--storage-driver vfs)
    for base in debian:12 debian:12-slim; do
        if ! buildah "${store[@]}" inspect --type image "$base" >/dev/null 2>&1; then
            echo "skip image build: base image $base not in local storage, and no registry is reachable to pull it"
            exit 0
        fi
    done
    buildah "${store[@]}" bud --isolation chroot --pull=never --layers -t localhost/initwatch:test "$top"
    buildah "${store[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' localhost/initwatch:test
    echo "ok   buildah bud"
fi
echo "test_manifests: all checks passed"
