#!/usr/bin/python3
"""Sends the same Events requests to a real kube-apiserver and to the stand-in
(kube_apiserver.py) and compares their answers: HTTP status, the Status object's reason, and
for the refusals initwatch logs, the message. The requests are those where the stand-in once
differed from the real server (a missing namespace, reason casing, regarding without uid,
offsets in times, charset in Content-Type, JSON patch), initwatch's own (create, series
merge patch, the empty merge patch that reads an Event) and the refusals it must tell apart.

usage: compare.py REAL_SERVER REAL_CA REAL_TOKEN STANDIN_SERVER STANDIN_CA STANDIN_TOKEN NAMESPACE
  NAMESPACE exists on both servers, and its Events are this script's; "initwatch-absent" must
  exist on neither.
Prints one line per request; exits 1 when an answer differs other than in KNOWN_DIFFERENCES.
"""
import json
import ssl
import sys
import urllib.error
import urllib.request

ABSENT = "initwatch-absent"
# Where the stand-in deliberately answers as current API servers do, not as 1.20.
KNOWN_DIFFERENCES = {
    "PATCH changing the note": "1.20 accepts it; current servers answer 422 (note is immutable)",
}


def event(name, namespace, **changes):
    e = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
         "eventTime": "2026-01-01T00:00:00.000000Z", "type": "Warning", "reason": "InitExitedLeavingProcesses",
         "action": "InitExited", "note": "init `/bin/sh /startup.sh` ended (exit 0)",
         "reportingController": "initwatch.io/initwatch", "reportingInstance": "node-7",
         "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": "story",
                       "uid": "c6ef09de-9833-4af7-a438-b4c96b9c0955", "fieldPath": "spec.containers{app}"}}
    for key, value in changes.items():
        if value is None:
            e.pop(key, None)
        else:
            e[key] = value
    return e


def requests(namespace):
    """(what, method, namespace, name or None, content type, body, token ok)"""
    ns = namespace
    merge = "application/merge-patch+json"
    no_uid = event("no-uid", ns)
    del no_uid["regarding"]["uid"]
    no_regarding_ns = event("no-regarding-namespace", ns)
    del no_regarding_ns["regarding"]["namespace"]
    return [
        ("POST", "POST", ns, None, "application/json", event("e1", ns), True),
        ("POST of a name taken", "POST", ns, None, "application/json", event("e1", ns), True),
        ("POST into a missing namespace", "POST", ABSENT, None, "application/json", event("e2", ABSENT), True),
        ("POST, reason not UpperCamel", "POST", ns, None, "application/json",
         event("lower", ns, reason="init exited"), True),
        ("POST, regarding without uid", "POST", ns, None, "application/json", no_uid, True),
        ("POST, regarding without namespace", "POST", ns, None, "application/json", no_regarding_ns, True),
        ("POST, eventTime with +00:00", "POST", ns, None, "application/json",
         event("offset", ns, eventTime="2026-01-01T00:00:00.000000+00:00"), True),
        ("POST, eventTime without fraction", "POST", ns, None, "application/json",
         event("nofraction", ns, eventTime="2026-01-01T00:00:00Z"), True),
        ("POST, charset in Content-Type", "POST", ns, None, "application/json; charset=utf-8",
         event("charset", ns), True),
        ("POST as text/plain", "POST", ns, None, "text/plain", event("plain", ns), True),
        ("POST, note of 1025 bytes", "POST", ns, None, "application/json", event("long", ns, note="n" * 1025),
         True),
        ("POST, series.count 1", "POST", ns, None, "application/json",
         event("count1", ns, series={"count": 1, "lastObservedTime": "2026-01-01T00:00:00.000000Z"}), True),
        ("POST with a series", "POST", ns, None, "application/json",
         event("count3", ns, series={"count": 3, "lastObservedTime": "2026-01-01T00:00:09.000000Z"}), True),
        ("POST, type Bad", "POST", ns, None, "application/json", event("bad", ns, type="Bad"), True),
        ("POST, deprecatedCount", "POST", ns, None, "application/json", event("dep", ns, deprecatedCount=3), True),
        ("POST, reason empty", "POST", ns, None, "application/json", event("noreason", ns, reason=""), True),
        ("POST, metadata.namespace another", "POST", ns, None, "application/json",
         event("other", ns, metadata={"name": "other", "namespace": "default"}), True),
        ("POST, bad token", "POST", ns, None, "application/json", event("token", ns), False),
        ("PATCH of the series", "PATCH", ns, "e1", merge,
         {"series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"}}, True),
        ("PATCH, charset in Content-Type", "PATCH", ns, "e1", merge + "; charset=utf-8",
         {"series": {"count": 3, "lastObservedTime": "2026-01-01T00:00:02.000000Z"}}, True),
        ("PATCH as JSON patch", "PATCH", ns, "e1", "application/json-patch+json",
         [{"op": "replace", "path": "/series/count", "value": 4}], True),
        ("PATCH as strategic merge patch", "PATCH", ns, "e1", "application/strategic-merge-patch+json",
         {"series": {"count": 5}}, True),
        ("PATCH, empty (reads the Event)", "PATCH", ns, "e1", merge, {}, True),
        ("PATCH of a missing Event", "PATCH", ns, "missing", merge,
         {"series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"}}, True),
        ("PATCH as application/json", "PATCH", ns, "e1", "application/json", {}, True),
        ("PATCH changing the note", "PATCH", ns, "e1", merge, {"note": "another"}, True),
    ]


def send(server, ca, token, method, namespace, name, content_type, body, token_ok):
    url = "%s/apis/events.k8s.io/v1/namespaces/%s/events%s" % (server, namespace, "/" + name if name else "")
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", content_type)
    req.add_header("Authorization", "Bearer " + (token if token_ok else "wrong-" + token))
    context = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(req, context=context, timeout=20) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"body": raw.decode("utf-8", "replace")}


def answer(status, obj):
    if obj.get("kind") == "Status":
        return status, obj.get("reason"), obj.get("message")
    return status, None, None


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    real = sys.argv[1:4]
    standin = sys.argv[4:7]
    namespace = sys.argv[7]
    failed = False
    for what, method, ns, name, content_type, body, token_ok in requests(namespace):
        a = answer(*send(*real, method, ns, name, content_type, body, token_ok))
        b = answer(*send(*standin, method, ns, name, content_type, body, token_ok))
        # Messages are compared where initwatch logs them and the wording is the server's own.
        same = a[:2] == b[:2] and (a[1] not in ("NotFound", "AlreadyExists") or a[2] == b[2])
        known = KNOWN_DIFFERENCES.get(what)
        verdict = "same" if same else ("known difference: " + known if known else "DIFFERENT")
        failed = failed or (not same and not known)
        print("%-40s real %s %s | stand-in %s %s | %s" % (what, a[0], a[1] or "", b[0], b[1] or "", verdict))
        if not same and not known:
            print("    real:     %s\n    stand-in: %s" % (a[2], b[2]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
