#!/usr/bin/python3
"""A stand-in for the Kubernetes API server's Events endpoints, for what a real one cannot be
made to do on demand: answer 429 or 500, or hang. Everything else the Events tests check
against a real kube-apiserver (tools/kube); where the two can be compared, this one answers as
kube-apiserver v1.20.2 does, as measured (tests/kernel/test_k8s_events.cpp):
  - HTTPS with the test's own CA; `Authorization: Bearer <token>` (401 otherwise);
  - every refusal is a Status object (kind Status, status Failure, message, reason, details,
    code), with the real server's messages;
  - POST /apis/events.k8s.io/v1/namespaces/NS/events: 404 NotFound when NS does not exist
    (--namespaces lists those that do); a Content-Type of application/json, parameters
    (charset) allowed (415 otherwise); a body that does not decode is 400 BadRequest (an
    eventTime or lastObservedTime that is not RFC 3339 with exactly 6 fractional digits and Z
    or an offset, as MicroTime parses it); metadata.namespace other than NS is 400; then
    1.20's events.k8s.io/v1 validation (pkg/apis/core/validation/events.go), 422 Invalid:
    metadata.name a DNS subdomain, eventTime set, type Normal or Warning, reportingController
    a qualified name, reportingInstance, action and reason set and at most 128 bytes (any
    casing), note at most 1024 bytes, regarding.namespace set unless NS is default or
    kube-system (regarding.uid is not required: an Event without it does not show under the
    pod), the deprecated* fields unset, series.count >= 2 and lastObservedTime set when a
    series is given; 409 AlreadyExists for a name taken; 201 with the stored object (uid,
    resourceVersion, creationTimestamp, deprecatedSource {} and the two deprecated times null
    added, as the real server returns it);
  - PATCH .../events/NAME: application/merge-patch+json, application/strategic-merge-patch+json
    (a merge, for an Event's fields) or application/json-patch+json (RFC 6902: add, replace,
    remove, test), parameters allowed (415 otherwise); 404 NotFound when missing; the result
    validated as current API servers do, stricter than 1.20 there: reason, note, type,
    eventTime, action, regarding, reportingController and reportingInstance are immutable
    (1.20 accepts a change, current servers answer 422), series validated when it changed;
    200 with the object;
  - GET .../events/NAME and GET .../events (a list) for the test to read back.
The test scripts answers through a control file (JSON): {"next": ["429", "500", "hang", ...]}
is consumed one entry per request before the normal handling ("hang" never answers; "429"
answers with Retry-After: 1). Every request is appended to the log file as JSON lines
{method, path, content_type, body, phase}: "received" on arrival, "answered" with its status.

usage: kube_apiserver.py --cert C --key K --token T --port-file F --log L --control J
                         [--namespaces default,kube-system,...]
"""
import argparse
import copy
import datetime
import json
import os
import re
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENTS = re.compile(r"^/apis/events\.k8s\.io/v1/namespaces/([a-z0-9]([-a-z0-9]*[a-z0-9])?)/events(?:/([^/?]+))?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                            r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# metav1.MicroTime's RFC3339Micro ("2006-01-02T15:04:05.000000Z07:00"): six digits, Z or an offset.
MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
IMMUTABLE = ("reason", "note", "type", "eventTime", "action", "regarding", "reportingController",
             "reportingInstance")
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json")

lock = threading.Lock()
store = {}  # (namespace, name) -> event
resource_version = [100]


class Refusal(Exception):
    """An answer other than success: the HTTP status, the Status reason, message and details."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": self.message, "reason": self.reason}
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def not_found(namespace, name):
    return Refusal(404, "NotFound", 'events.events.k8s.io "%s" not found' % name,
                   {"name": name, "group": "events.k8s.io", "kind": "events"})


def invalid(name, causes):
    """422 Invalid from [(field, message)], worded as the real server's field errors."""
    message = 'Event "%s" is invalid: ' % name
    texts = ["%s: %s" % cause for cause in causes]
    message += texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return Refusal(422, "Invalid", message, {
        "name": name, "kind": "Event",
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]})


def check_decodes(event):
    """What the API server's JSON decoding refuses (400 BadRequest) before validation."""
    times = [("eventTime", event.get("eventTime"))]
    if isinstance(event.get("series"), dict):
        times.append(("lastObservedTime", event["series"].get("lastObservedTime")))
    for field, value in times:
        if value is not None and not (isinstance(value, str) and MICRO_TIME.match(value)):
            raise Refusal(400, "BadRequest",
                          'Event in version "v1" cannot be handled as a Event: %s: parsing time %s as '
                          '"2006-01-02T15:04:05.000000Z07:00"' % (field, json.dumps(value)))


def unset(value):
    return value in (None, {}, "", 0)


def validate(event, namespace):
    """1.20's events.k8s.io/v1 validation of a new Event: the (field, message) causes."""
    causes = []
    name = (event.get("metadata") or {}).get("name", "")
    if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        causes.append(("metadata.name", 'Invalid value: "%s": a lowercase RFC 1123 subdomain' % name))
    regarding = event.get("regarding") or {}
    if not regarding.get("namespace") and namespace not in ("default", "kube-system"):
        causes.append(("involvedObject.namespace", 'Invalid value: "": does not match event.namespace'))
    controller = event.get("reportingController") or ""
    if not controller:
        causes.append(("reportingController", "Required value"))
    elif len(controller) > 316 or not QUALIFIED_NAME.match(controller):
        causes.append(("reportingController", 'Invalid value: "%s": name part must consist of alphanumeric '
                       "characters, '-', '_' or '.'" % controller))
    for field in ("reportingInstance", "action", "reason"):
        value = event.get(field) or ""
        if not value:
            causes.append((field, "Required value"))
        elif len(value.encode()) > 128:
            causes.append((field, 'Invalid value: "": can have at most 128 characters'))
    if len((event.get("note") or "").encode()) > 1024:
        causes.append(("message", 'Invalid value: "": can have at most 1024 characters'))
    causes += validate_series(event)
    if not event.get("eventTime"):
        causes.append(("eventTime", "Required value"))
    if event.get("type") not in ("Normal", "Warning"):
        causes.append(("type", 'Invalid value: "": has invalid value: %s' % event.get("type", "")))
    for field, old_name in (("deprecatedFirstTimestamp", "firstTimestamp"),
                            ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"),
                            ("deprecatedSource", "source")):
        if not unset(event.get(field)):
            causes.append((old_name, 'Invalid value: "": needs to be unset'))
    return causes


def validate_series(event):
    series = event.get("series")
    if series is None:
        return []
    causes = []
    if not isinstance(series.get("count"), int) or series["count"] < 2:
        causes.append(("series.count", 'Invalid value: "": should be at least 2'))
    if not series.get("lastObservedTime"):
        causes.append(("series.lastObservedTime", "Required value"))
    return causes


def validate_update(new, old):
    """Current API servers' update validation of an events.k8s.io/v1 Event."""
    causes = [(field, "Invalid value: %s: field is immutable" % json.dumps(new.get(field)))
              for field in IMMUTABLE if new.get(field) != old.get(field)]
    if new.get("series") != old.get("series"):
        causes += validate_series(new)
    return causes


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


def json_patch(target, operations):
    """RFC 6902 JSON patch: add, replace, remove, test (what an Event's fields need)."""
    result = copy.deepcopy(target)
    if not isinstance(operations, list):
        raise Refusal(400, "BadRequest", "a JSON patch is a list of operations")
    for op in operations:
        path = [p.replace("~1", "/").replace("~0", "~") for p in str(op.get("path", "")).split("/")[1:]]
        if not path:
            raise Refusal(422, "Invalid", "the path %r is not a JSON pointer to a field" % op.get("path"))
        parent = result
        for key in path[:-1]:
            if not isinstance(parent, dict) or key not in parent:
                raise Refusal(500, "InternalError", "doc is missing path: %s" % op.get("path"))
            parent = parent[key]
        last = path[-1]
        kind = op.get("op")
        if kind in ("add", "replace"):
            if kind == "replace" and last not in parent:
                raise Refusal(500, "InternalError", "replace operation does not apply: doc is missing key: %s"
                              % op.get("path"))
            parent[last] = op.get("value")
        elif kind == "remove":
            if last not in parent:
                raise Refusal(500, "InternalError", "remove operation does not apply: doc is missing path: %s"
                              % op.get("path"))
            del parent[last]
        elif kind == "test":
            if parent.get(last) != op.get("value"):
                raise Refusal(500, "InternalError", "testing value %s failed" % op.get("path"))
        else:
            raise Refusal(500, "InternalError", "Unexpected kind: %s" % kind)
    return result


def media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def stored_form(event, namespace):
    """The object as the real server stores and returns it."""
    event = dict(event)
    meta = dict(event.get("metadata") or {})
    meta.update({"namespace": namespace, "uid": str(uuid.uuid4()),
                 "creationTimestamp": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")})
    event["metadata"] = meta
    event.setdefault("deprecatedSource", {})
    event.setdefault("deprecatedFirstTimestamp", None)
    event.setdefault("deprecatedLastTimestamp", None)
    return event


def bump(event):
    resource_version[0] += 1
    event["metadata"]["resourceVersion"] = str(resource_version[0])
    return event


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # the log file has the requests
        pass

    def reply(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        return status

    def refuse(self, refusal, headers=()):
        return self.reply(refusal.code, refusal.status(), headers)

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
        try:
            status = self.route(method, raw)
        except Refusal as refusal:
            status = self.refuse(refusal)
        self.record(dict(entry, phase="answered", status=status))

    def route(self, method, raw):
        if self.headers.get("Authorization") != "Bearer " + self.server.args.token:
            raise Refusal(401, "Unauthorized", "Unauthorized")
        step = self.scripted()
        if step == "hang":
            time.sleep(3600)
            return 0
        if step == "429":
            return self.refuse(Refusal(429, "TooManyRequests", "Too many requests, please try again later.",
                                       {"retryAfterSeconds": 1}), headers=[("Retry-After", "1")])
        if step is not None and step.isdigit():
            raise Refusal(int(step), "InternalError", "scripted answer %s" % step)
        match = EVENTS.match(self.path)
        if not match:
            raise Refusal(404, "NotFound", "the server could not find the requested resource")
        namespace, name = match.group(1), match.group(3)
        with lock:
            if method == "POST" and name is None:
                return self.create(namespace, raw)
            if method == "PATCH" and name is not None:
                return self.patch(namespace, name, raw)
            if method == "GET" and name is not None:
                if (namespace, name) not in store:
                    raise not_found(namespace, name)
                return self.reply(200, store[(namespace, name)])
            if method == "GET":
                items = [e for (ns, _), e in sorted(store.items()) if ns == namespace]
                return self.reply(200, {"kind": "EventList", "apiVersion": "events.k8s.io/v1", "items": items})
        raise Refusal(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def decode(self, raw):
        try:
            return json.loads(raw) if raw else None
        except ValueError as e:
            raise Refusal(400, "BadRequest", "the body does not decode: %s" % e)

    def create(self, namespace, raw):
        if media_type(self.headers.get("Content-Type")) != "application/json":
            raise Refusal(415, "UnsupportedMediaType",
                          "the body of the request was in an unknown format - accepted media types include: "
                          "application/json, application/yaml, application/vnd.kubernetes.protobuf")
        if namespace not in self.server.namespaces:
            raise Refusal(404, "NotFound", 'namespaces "%s" not found' % namespace,
                          {"name": namespace, "kind": "namespaces"})
        event = self.decode(raw)
        if not isinstance(event, dict):
            raise Refusal(400, "BadRequest", "the body is not an object")
        check_decodes(event)
        if (event.get("metadata") or {}).get("namespace", namespace) != namespace:
            raise Refusal(400, "BadRequest",
                          "the namespace of the provided object does not match the namespace sent on the request")
        name = (event.get("metadata") or {}).get("name", "")
        causes = validate(event, namespace)
        if causes:
            raise invalid(name, causes)
        if (namespace, name) in store:
            raise Refusal(409, "AlreadyExists", 'events.events.k8s.io "%s" already exists' % name,
                          {"name": name, "group": "events.k8s.io", "kind": "events"})
        store[(namespace, name)] = bump(stored_form(event, namespace))
        return self.reply(201, store[(namespace, name)])

    def patch(self, namespace, name, raw):
        patch_type = media_type(self.headers.get("Content-Type"))
        if patch_type not in PATCH_TYPES:
            raise Refusal(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})
        if namespace not in self.server.namespaces:
            raise Refusal(404, "NotFound", 'namespaces "%s" not found' % namespace,
                          {"name": namespace, "kind": "namespaces"})
        if (namespace, name) not in store:
            raise not_found(namespace, name)
        old = store[(namespace, name)]
        body = self.decode(raw)
        new = json_patch(old, body) if patch_type == "application/json-patch+json" else merge(old, body or {})
        check_decodes(new)
        causes = validate_update(new, old)
        if causes:
            raise invalid(name, causes)
        if new != old:
            new = bump(new)
        store[(namespace, name)] = new
        return self.reply(200, new)

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
    parser.add_argument("--namespaces", default="default,kube-system,kube-public,kube-node-lease")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.args = args
    server.namespaces = set(args.namespaces.split(","))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))

    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
