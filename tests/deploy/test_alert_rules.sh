#!/usr/bin/env bash
# The alert rules of deploy/prometheus/, offline, with Debian's promtool (package prometheus):
#   1. `promtool check rules` accepts rules.yaml;
#   2. `promtool test rules rules.test.yaml`: each alert fires, stays silent where it must,
#      and resolves, on synthetic series;
#   3. prometheusrule.yaml is what tools/prometheus-rule makes of rules.yaml (not edited by
#      hand, not stale), its spec.groups are rules.yaml's groups, and promtool accepts them;
#   4. every metric the rules name is one src/report/metrics.cpp registers, and every label
#      they select or group initwatch_findings_total by is one it sets (or instance/job).
# That the rules fire on a real initwatch's metrics is tests/kernel/test_prometheus.cpp's.
# No root needed. Without promtool: skipped (exit 77), failed under CI=true.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$top/deploy/prometheus

if ! command -v promtool >/dev/null; then
    if [[ ${CI:-} == true ]]; then echo "test_alert_rules: promtool missing (Debian: apt-get install prometheus)" >&2; exit 1; fi
    echo "test_alert_rules: skipped, promtool missing (Debian: apt-get install prometheus)" >&2
    exit 77
fi
command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null ||
    { echo "test_alert_rules: python3 and python3-yaml needed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

timeout 60 promtool check rules "$dir/rules.yaml"
echo "ok   promtool check rules rules.yaml"
(cd "$dir" && timeout 120 promtool test rules rules.test.yaml)
echo "ok   promtool test rules rules.test.yaml"
"$top/tools/prometheus-rule" --check
echo "ok   prometheusrule.yaml is tools/prometheus-rule's output of rules.yaml"

python3 - "$dir/rules.yaml" "$dir/prometheusrule.yaml" "$top/src/report/metrics.cpp" "$work/spec.yaml" <<'PYTHON'
import re
import sys

import yaml

rules_path, operator_path, metrics_path, spec_path = sys.argv[1:]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


rules = yaml.safe_load(open(rules_path))
obj = yaml.safe_load(open(operator_path))
check(obj.get("apiVersion") == "monitoring.coreos.com/v1" and obj.get("kind") == "PrometheusRule",
      "prometheusrule.yaml: a monitoring.coreos.com/v1 PrometheusRule")
check(obj.get("metadata", {}).get("namespace") == "initwatch", "prometheusrule.yaml: in namespace initwatch")
check(set(obj.get("spec", {})) == {"groups"} and obj["spec"]["groups"] == rules["groups"],
      "prometheusrule.yaml: spec.groups are rules.yaml's groups")
yaml.safe_dump({"groups": obj["spec"]["groups"]}, open(spec_path, "w"))

alerts = [r for g in rules["groups"] for r in g["rules"]]
check(sorted(r["alert"] for r in alerts) == sorted(
    ["ContainerInitExitedLeavingProcesses", "ContainerWorkerDiedWhileInitRuns", "InitwatchLosingEvents"]),
    "rules.yaml: the three alerts of docs/kubernetes.md")

source = open(metrics_path).read()
registered = set(re.findall(r'"(initwatch_[a-z_]+)"', source))
count_finding = source[source.index("void Metrics::count_finding"):]
count_finding = count_finding[:count_finding.index("\nvoid ")]
finding_labels = set(re.findall(r'\{"(\w+)", valid_utf8\(', count_finding))
check({"type", "severity", "namespace", "pod", "container"} <= finding_labels,
      f"metrics.cpp: initwatch_findings_total's labels {sorted(finding_labels)}")
for r in alerts:
    expr = r["expr"]
    used = set(re.findall(r"\b(initwatch_[a-z_]+)", expr))
    check(used and used <= registered, f"{r['alert']}: metrics {sorted(used)} are registered in metrics.cpp")
    if "initwatch_findings_total" in used:
        selected = set(re.findall(r"(\w+)\s*=~?\s*\"", expr))
        grouped = {l.strip() for m in re.findall(r"by \(([^)]*)\)", expr) for l in m.split(",")}
        check((selected | grouped) - {"instance", "job"} <= finding_labels,
              f"{r['alert']}: labels {sorted(selected | grouped)} are initwatch_findings_total's (or the scrape's)")
    if "initwatch_lost_events_total" in used:
        check('"reason"' in source, f"{r['alert']}: initwatch_lost_events_total has its reason label")

if failures:
    print(f"test_alert_rules: {len(failures)} failed", file=sys.stderr)
    sys.exit(1)
PYTHON

timeout 60 promtool check rules "$work/spec.yaml" >/dev/null
echo "ok   promtool check rules accepts the PrometheusRule's spec"
echo "test_alert_rules: all checks passed"
