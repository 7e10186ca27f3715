#!/usr/bin/env bash
# Offline checks of the deployment files, no cluster needed:
#   1. `kubectl kustomize deploy/kubernetes` renders (kubectl's --dry-run=client, apply or
#      create, needs an API server for discovery even with --validate=false: not usable).
#   2. Every object is checked against a schema of the Kubernetes API fields it uses
#      (unknown or misspelled fields and wrong types fail, as the API server's strict
#      validation would), then against what this agent must be: hostPID, capabilities
#      exactly those tests/deploy/test_capabilities.sh proves, read-only root and mounts,
#      no service account token, probes on the named metrics port, and so on.
#   3. The Dockerfile agrees: entrypoint, metrics port.
#   4. With INITWATCH_BUILD_IMAGE=1, `buildah bud` builds the image, if the base images
#      (debian:12, debian:12-slim) are in local storage; there is no registry to pull from
#      here.
# Needs kubectl (for kustomize) and python3-yaml.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)

for tool in kubectl python3; do
    command -v "$tool" >/dev/null || { echo "test_manifests: $tool missing" >&2; exit 1; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "test_manifests: python3-yaml missing" >&2; exit 1; }

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
kubectl kustomize "$top/deploy/kubernetes" >"$rendered"
echo "ok   kubectl kustomize deploy/kubernetes"

# The capability set the proof script tests: the manifest must add exactly this.
proven=$(sed -n 's/^minimal=(\(.*\))$/\1/p' "$top/tests/deploy/test_capabilities.sh")

python3 - "$rendered" "$top/deploy/kubernetes/daemonset.yaml" "$top/Dockerfile" "$proven" <<'PYTHON'
import json
import re
import sys

import yaml

rendered_path, raw_path, dockerfile_path, proven = sys.argv[1:]
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
}
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
ENUMS = {
    "imagePullPolicy": {"Always", "IfNotPresent", "Never"},
    "protocol": {"TCP", "UDP", "SCTP"},
    "operator": {"Exists", "Equal"},
    "hostPath.type": {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                      "CharDevice", "BlockDevice"},
    "seccompProfile.type": {"RuntimeDefault", "Unconfined", "Localhost"},
    "updateStrategy.type": {"RollingUpdate", "OnDelete"},
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
        if path.endswith("." + suffix) and value not in allowed:
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
ns = by_kind["Namespace"]["metadata"]["name"]
sa = by_kind["ServiceAccount"]
ds = by_kind["DaemonSet"]
pod = ds["spec"]["template"]["spec"]
meta = ds["spec"]["template"]["metadata"]
check(all(d["metadata"].get("namespace") == ns for d in docs if d["kind"] != "Namespace"),
      f"every object is in namespace {ns}")
check(by_kind["Namespace"]["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "privileged",
      "the namespace admits hostPID/hostPath pods")
check(sa["automountServiceAccountToken"] is False, "ServiceAccount: no token automount")
check(pod["serviceAccountName"] == sa["metadata"]["name"], "the pod uses that ServiceAccount")
check(pod.get("automountServiceAccountToken") is False, "pod: no token automount")
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
            "/var/log/pods": "/host/var/log/pods", "/var/log/containers": "/host/var/log/containers"}
got = {volumes[n]["hostPath"]["path"]: mounts[n]["mountPath"] for n in mounts if "hostPath" in volumes[n]}
check(got == expected, f"hostPath mounts {expected}")
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

if failures:
    print(f"test_manifests: {len(failures)} failed", file=sys.stderr)
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
