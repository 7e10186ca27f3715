#!/usr/bin/python3
"""A stand-in for the Kubernetes API server's Events endpoints, for initwatch's tests.

No API server can run on the test machines, so this one enforces what a real one would
for initwatch's requests (../../../shared/KUBERNETES.md, from the Kubernetes sources):
  - HTTPS with the test's own CA; `Authorization: Bearer <token>` (401 otherwise);
  - POST /apis/events.k8s.io/v1/namespaces/NS/events: the events.k8s.io/v1 validation of
    pkg/apis/core/validation/events.go (required eventTime as MicroTime, type Normal or
    Warning, reportingController a qualified name, reportingInstance/action/reason at most
    128 characters, note at most 1024, regarding = a Pod with namespace, name and uid, the
    deprecated* fields unset, series.count >= 2 when present), metadata.name a DNS subdomain,
    409 for a name taken; 201 with the stored object;
  - PATCH .../events/NAME (application/merge-patch+json or strategic-merge-patch+json): 404
    when missing, the merged object validated again; 200;
  - GET .../events/NAME and GET .../events (a list) for the test to read back.
The test scripts answers through a control file (JSON): {"next": ["429", "500", "hang", ...]}
is consumed one entry per request before the normal handling ("hang" never answers; "429"
answers with Retry-After: 1). Every request is appended to the log file as JSON lines
{method, path, content_type, body, phase}: "received" on arrival, "answered" with its status.

usage: kube_apiserver.py --cert C --key K --token T --port-file F --log L --control J
"""
import argparse
import os
import json
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENTS = re.compile(r"^/apis/events\.k8s\.io/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/events(?:/([^/?]+))?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                            r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
UPPER_CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")

lock = threading.Lock()
store = {}  # (namespace, name) -> event


def validate(event, namespace):
    """The reasons a real API server would refuse this Event (empty: valid)."""
    errors = []
    if event.get("apiVersion") != "events.k8s.io/v1" or event.get("kind") != "Event":
        errors.append("apiVersion/kind must be events.k8s.io/v1 Event")
    meta = event.get("metadata") or {}
    name = meta.get("name", "")
    if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        errors.append("metadata.name must be a DNS subdomain: %r" % name)
    if meta.get("namespace", namespace) != namespace:
        errors.append("metadata.namespace does not match the request's")
    if not MICRO_TIME.match(str(event.get("eventTime", ""))):
        errors.append("eventTime is required (MicroTime): %r" % event.get("eventTime"))
    if event.get("type") not in ("Normal", "Warning"):
        errors.append("type must be Normal or Warning")
    controller = event.get("reportingController", "")
    if not controller or len(controller) > 253 or not QUALIFIED_NAME.match(controller):
        errors.append("reportingController must be a qualified name")
    for field in ("reportingInstance", "action", "reason"):
        value = event.get(field, "")
        if not value or len(value) > 128:
            errors.append("%s is required, at most 128 characters" % field)
    if not UPPER_CAMEL.match(event.get("reason", "")):
        errors.append("reason must be UpperCamel")
    if len(event.get("note", "").encode()) > 1024:
        errors.append("note must be at most 1024 bytes")
    regarding = event.get("regarding") or {}
    if (regarding.get("apiVersion"), regarding.get("kind")) != ("v1", "Pod"):
        errors.append("regarding must be a v1 Pod")
    for field in ("namespace", "name", "uid"):
        if not regarding.get(field):
            errors.append("regarding.%s is required" % field)
    if regarding.get("namespace") not in (None, namespace):
        errors.append("regarding.namespace must be the event's namespace")
    for field in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource"):
        if field in event:
            errors.append("%s must not be set" % field)
    series = event.get("series")
    if series is not None:
        if not isinstance(series.get("count"), int) or series["count"] < 2:
            errors.append("series.count must be at least 2")
        if not MICRO_TIME.match(str(series.get("lastObservedTime", ""))):
            errors.append("series.lastObservedTime is required (MicroTime)")
    return errors


def merge(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # the log file has the requests
        pass

    def reply(self, status, obj=None, headers=()):
        body = json.dumps(obj if obj is not None else {"kind": "Status", "code": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        return status

    def scripted(self):
        with lock:
            try:
                with open(self.server.args.control) as f:
                    control = json.load(f)
            except (OSError, ValueError):
                return None
            queue = control.get("next", [])
            if not queue:
                return None
            step = queue.pop(0)
            with open(self.server.args.control, "w") as f:
                json.dump(control, f)
        return step

    def record(self, entry):
        with lock, open(self.server.args.log, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def handle_any(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        entry = {"method": method, "path": self.path, "content_type": self.headers.get("Content-Type"),
                 "body": raw.decode("utf-8", "replace")}
        self.record(dict(entry, phase="received"))
        status = self.route(method, raw)
        self.record(dict(entry, phase="answered", status=status))

    def route(self, method, raw):
        if self.headers.get("Authorization") != "Bearer " + self.server.args.token:
            return self.reply(401)
        step = self.scripted()
        if step == "hang":
            time.sleep(3600)
            return 0
        if step == "429":
            return self.reply(429, headers=[("Retry-After", "1")])
        if step is not None and step.isdigit():
            return self.reply(int(step))
        match = EVENTS.match(self.path)
        if not match:
            return self.reply(404)
        namespace, name = match.group(1), match.group(3)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self.reply(400, {"kind": "Status", "message": "body is not JSON"})
        with lock:
            if method == "POST" and name is None:
                if self.headers.get("Content-Type") != "application/json":
                    return self.reply(415)
                errors = validate(body or {}, namespace)
                if errors:
                    return self.reply(422, {"kind": "Status", "message": "; ".join(errors)})
                key = (namespace, body["metadata"]["name"])
                if key in store:
                    return self.reply(409)
                store[key] = body
                return self.reply(201, body)
            if method == "PATCH" and name is not None:
                if self.headers.get("Content-Type") not in ("application/merge-patch+json",
                                                            "application/strategic-merge-patch+json"):
                    return self.reply(415)
                if (namespace, name) not in store:
                    return self.reply(404)
                merged = merge(store[(namespace, name)], body or {})
                errors = validate(merged, namespace)
                if errors:
                    return self.reply(422, {"kind": "Status", "message": "; ".join(errors)})
                store[(namespace, name)] = merged
                return self.reply(200, merged)
            if method == "GET" and name is not None:
                return self.reply(200, store[(namespace, name)]) if (namespace, name) in store else self.reply(404)
            if method == "GET":
                items = [e for (ns, _), e in sorted(store.items()) if ns == namespace]
                return self.reply(200, {"kind": "EventList", "items": items})
        return self.reply(405)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")


def main():
    parser = argparse.ArgumentParser()
    for flag in ("--cert", "--key", "--token", "--port-file", "--log", "--control"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.args = args
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))

    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
