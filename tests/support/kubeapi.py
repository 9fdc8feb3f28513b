"""A Kubernetes API emulator: a TEST DOUBLE, not a Kubernetes.

The official ``kubernetes`` Python client talks to it over plain HTTP on a loopback port, with
nothing patched, so the Kubernetes backend is tested through the same client calls it makes
against a real cluster. It is small on purpose and keeps only the semantics the backend relies
on; anything else is either absent or simplified, as listed here.

Kept:
  * objects per (API group, resource, namespace, name) for the resources in ``RESOURCES``;
    every write bumps one global ``resourceVersion`` and sets metadata.resourceVersion, uid,
    creationTimestamp and generation; ``generateName``; ``dryRun`` (validated, not stored);
    Secret ``stringData`` folded into base64 ``data``; a PUT or PATCH of the resource keeps
    the status of a resource that has a status subresource, and one of ``/status`` changes
    the status only;
  * errors as real ``Status`` bodies: 409 AlreadyExists (create of an existing name), 404
    NotFound (get, update, patch, delete of a missing one, or an unknown resource), 409 Conflict
    (PUT, or a patch naming metadata.resourceVersion, against a newer version), 400 BadRequest,
    422 Invalid (no name), 410 Expired;
  * list: ``labelSelector`` (``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``,
    ``a``, ``!a``, comma-joined), ``fieldSelector`` on any dotted field (``metadata.name=x``,
    ``involvedObject.name=x``, ``status.phase!=Running``), ``limit``/``continue``, and the
    list's metadata.resourceVersion;
  * watch (``watch=true``): newline-delimited JSON events in a chunked response, ADDED /
    MODIFIED / DELETED after the given ``resourceVersion`` (none or "0": the current objects
    as ADDED first), from a bounded history; a version older than the history -> one ERROR
    event with a 410 Expired Status, as the real server sends; ``allowWatchBookmarks`` ->
    BOOKMARK events (only kind, apiVersion and metadata.resourceVersion) every
    ``bookmark_interval`` seconds; ``timeoutSeconds``;
  * patch: JSON patch (add, remove, replace, test), JSON merge patch, strategic merge patch
    (as a merge patch whose lists of objects merge by name, type or containerPort;
    ``$patch: delete`` honoured, other directives dropped), apply patch (as a merge patch);
  * delete returns the object for pods and services, a Status otherwise; a pod with a running
    process, or any pod while ``termination_delay`` > 0, terminates first (deletionTimestamp
    set, MODIFIED, then DELETED); deletecollection;
  * events: core/v1 Event objects, written by the test controls the way the scheduler and the
    kubelet write them (Scheduled, FailedScheduling, Pulling, Pulled, Failed, BackOff, Created,
    Started, FailedMount), involvedObject pointing at the pod;
  * every request is RECORDED in ``calls`` with its RBAC verb (get, list, watch, create,
    update, patch, delete, deletecollection), group, resource, subresource, namespace and name;
    ``role_rules()`` turns the record into a Role's rules.

Not kept: authentication, authorization (nothing is enforced, but the verbs are recorded),
admission and validation (beyond a name), defaulting beyond a few pod and service fields,
namespaces' existence (any namespace works), owner references and garbage collection,
finalizers, real scheduling (the test or the automatic kubelet decides), a selector change
turning MODIFIED into DELETED for a watcher, list ``resourceVersion`` semantics (a list is
always the newest state), managedFields, server-side apply conflicts, protobuf and CBOR.

Test controls (called in-process on the emulator object) move a pod through Pending,
ContainerCreating, Running, Failed, and emit the events and MODIFIED watch events that go
with it. ``start_kubelet()`` turns on an automatic kubelet: a new pod is scheduled, "pulled"
and run after ``delay`` seconds, and it RUNS A REAL JUPYTER SERVER on this machine so that the
gateway can reach it: each pod gets its own loopback address as podIP (127.77.x.y: all of
127.0.0.0/8 is loopback on Linux) and ``python -m jupyter_server`` listens there on the first
container port. What a real kubelet would mount, this double materialises in a directory per
pod: configMap and secret volumes as files (with items), emptyDir as a directory, a
persistentVolumeClaim (and its subPath) as a directory the test maps with ``claims``, a
hostPath only through ``host_paths``; a path in the container's args, env or workingDir under a
volumeMount's mountPath (or under an ``image_paths`` prefix, the "image's" files) is rewritten
onto the host directory. The container's own command is not run (it is the image's): only its
Jupyter options are kept (``--Class.trait=value``, ``--config=``, ``--no-browser``,
``--allow-root``), then ``--ServerApp.ip``/``port`` are forced. Init containers are emulated
only when they are simple file commands (``cp``, ``mkdir``, ``chmod``, ``chown``, ``ln``,
``true``, joined by ``&&`` or ``;``, possibly under ``sh -c``), run with rewritten paths;
anything else fails the pod loudly (reason NotEmulated). Readiness is the readinessProbe's
httpGet if there is one, else a TCP connect. Processes are stopped by their process group's
pid when their pod is deleted and when the emulator stops; each writes its log into its pod
directory (served as ``pods/log``).
"""

from __future__ import annotations

import base64
import copy
import glob
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

Obj = dict[str, Any]

# (group, plural) -> (kind, namespaced, has a status subresource)
RESOURCES: dict[tuple[str, str], tuple[str, bool, bool]] = {
    ("", "pods"): ("Pod", True, True),
    ("", "services"): ("Service", True, True),
    ("", "secrets"): ("Secret", True, False),
    ("", "configmaps"): ("ConfigMap", True, False),
    ("", "events"): ("Event", True, False),
    ("", "persistentvolumeclaims"): ("PersistentVolumeClaim", True, True),
    ("", "serviceaccounts"): ("ServiceAccount", True, False),
    ("", "namespaces"): ("Namespace", False, True),
    ("", "nodes"): ("Node", False, True),
    ("apps", "daemonsets"): ("DaemonSet", True, True),
    ("apps", "deployments"): ("Deployment", True, True),
    ("networking.k8s.io", "networkpolicies"): ("NetworkPolicy", True, False),
}
VERSIONS = {"": "v1", "apps": "v1", "networking.k8s.io": "v1"}
RETURNS_OBJECT_ON_DELETE = {("", "pods"), ("", "services")}
JUPYTER_DIRS = ("HOME", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR")
FILE_COMMANDS = {"cp", "mkdir", "chmod", "chown", "ln", "true"}


@dataclass(frozen=True)
class Call:
    """One request, as RBAC names it (group "" is the core API)."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def rbac_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


class MountError(Exception):
    pass


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version(group: str) -> str:
    return f"{group}/{VERSIONS[group]}" if group else "v1"


# -- selectors --------------------------------------------------------------------------------
_LABEL_REQ = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<nkey>[\w./-]+)|(?P<key>[\w./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*)|\s(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?)\s*$"
)


def label_matcher(selector: str) -> Callable[[Obj], bool]:
    tests: list[Callable[[dict[str, str]], bool]] = []
    for part in re.split(r",(?![^(]*\))", selector) if selector.strip() else []:
        m = _LABEL_REQ.match(part)
        if m is None:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        key = m["nkey"] or m["key"]
        if m["not"]:
            tests.append(lambda lb, k=key: k not in lb)
        elif m["op"]:
            equal = m["op"] != "!="
            tests.append(lambda lb, k=key, v=m["value"], e=equal: (lb.get(k) == v) == e)
        elif m["setop"]:
            values = {v.strip() for v in m["set"].split(",") if v.strip()}
            if m["setop"] == "in":
                tests.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                tests.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        else:
            tests.append(lambda lb, k=key: k in lb)
    return lambda obj: all(t(obj.get("metadata", {}).get("labels") or {}) for t in tests)


def field_value(obj: Obj, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_matcher(selector: str) -> Callable[[Obj], bool]:
    tests: list[tuple[str, str, bool]] = []
    for part in selector.split(",") if selector.strip() else []:
        m = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if m is None:
            raise ApiError(400, "BadRequest", f"invalid field selector: {part!r}")
        tests.append((m[1], m[3], m[2] != "!="))
    return lambda obj: all((field_value(obj, p) == v) == eq for p, v, eq in tests)


# -- patches ----------------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any, strategic: bool = False) -> Any:
    if isinstance(patch, list) and strategic and isinstance(target, list):
        return _merge_lists(target, patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if strategic and key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value, strategic)
    return out


def _merge_lists(target: list[Any], patch: list[Any]) -> list[Any]:
    items = [i for i in [*target, *patch] if isinstance(i, dict)]
    keys = [k for k in ("name", "type", "containerPort") if items and all(k in i for i in items)]
    if len(items) < len(target) + len(patch) or not keys:
        return copy.deepcopy(patch)
    out = {i[keys[0]]: i for i in target}
    for item in patch:
        if item.get("$patch") == "delete":
            out.pop(item[keys[0]], None)
        else:
            out[item[keys[0]]] = merge_patch(out.get(item[keys[0]]), item, True)
    return list(out.values())


def json_patch(target: Obj, ops: Any) -> Obj:
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal object into jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        try:
            if op["op"] == "test":
                current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
                if current != op["value"]:
                    raise ApiError(422, "Invalid", f"test failed at {op['path']}")
            elif op["op"] == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            elif isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if op["op"] == "add":
                    parent.insert(index, op["value"])
                else:
                    parent[index] = op["value"]
            elif op["op"] in ("add", "replace"):
                parent[last] = op["value"]
            else:
                raise ApiError(400, "BadRequest", f"unsupported JSON patch op {op['op']!r}")
        except (KeyError, IndexError, ValueError) as e:
            raise ApiError(422, "Invalid", f"json patch failed at {op['path']}: {e}") from e
    return doc


# -- the emulator -----------------------------------------------------------------------------
@dataclass
class _Kubelet:
    delay: float
    claims: dict[str, Path]
    host_paths: dict[str, Path]
    image_paths: dict[str, Path]
    python: str
    startup_timeout: float


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    log: Path
    stopping: bool = False


@dataclass
class _Injected:
    verb: str
    resource: str
    error: ApiError
    times: int


class KubeAPI:
    """The emulator: ``start()``, ``url``, ``client_configuration()``, ``kubeconfig(path)``,
    ``calls``, the test controls, ``stop()``."""

    def __init__(self, workdir: Path, history: int = 1000) -> None:
        self.workdir = workdir
        self.calls: list[Call] = []
        self.bookmark_interval = 1.0
        self.termination_delay = 0.0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[tuple[str, str, str, str], Obj] = {}
        self._history: deque[tuple[int, str, str, str, str, Obj]] = deque(maxlen=history)
        self._compacted = 0
        self._rv = 0
        self._generation = 0  # bumped to end every open watch
        self._stopping = False
        self._injected: list[_Injected] = []
        self._kubelet: _Kubelet | None = None
        self._processes: dict[str, _Process] = {}
        self._logs: dict[str, str] = {}
        self._next_ip = 0
        self._server: ThreadingHTTPServer | None = None
        self._create("", "namespaces", "", {"metadata": {"name": "default"}})

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> KubeAPI:
        self.workdir.mkdir(parents=True, exist_ok=True)
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            processes = list(self._processes.values())
        for process in processes:
            _kill(process)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def client_configuration(self) -> Any:
        from kubernetes import client

        return client.Configuration(host=self.url)

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """Write a kubeconfig (JSON is YAML) whose current context points at the emulator."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator"}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
                }
            ],
            "current-context": "emulator",
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    # -- the record ----------------------------------------------------------------------------
    def role_rules(self, calls: list[Call] | None = None) -> list[Obj]:
        """The recorded calls as a Role's rules: one rule per (group, resource), verbs sorted."""
        verbs: dict[tuple[str, str], set[str]] = {}
        for call in self.calls if calls is None else calls:
            verbs.setdefault((call.group, call.rbac_resource), set()).add(call.verb)
        return [
            {"apiGroups": [g], "resources": [r], "verbs": sorted(v)}
            for (g, r), v in sorted(verbs.items())
        ]

    def inject(self, verb: str, resource: str, code: int, reason: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``verb`` on ``resource`` with an error Status."""
        with self._lock:
            error = ApiError(code, reason, f"injected by the test: {reason}")
            self._injected.append(_Injected(verb, resource, error, times))

    # -- the store -----------------------------------------------------------------------------
    def objects(self, resource: str, namespace: str | None = None, group: str = "") -> list[Obj]:
        with self._lock:
            return [
                copy.deepcopy(o)
                for (g, r, ns, _), o in sorted(self._objects.items())
                if g == group and r == resource and namespace in (None, ns)
            ]

    def get(self, resource: str, name: str, namespace: str = "default", group: str = "") -> Obj:
        ns = namespace if RESOURCES[(group, resource)][1] else ""
        with self._lock:
            return copy.deepcopy(self._read(group, resource, ns, name))

    def _read(self, group: str, resource: str, ns: str, name: str) -> Obj:
        obj = self._objects.get((group, resource, ns, name))
        if obj is None:
            raise ApiError(
                404, "NotFound", f'{resource} "{name}" not found', name=name, kind=resource
            )
        return obj

    def _commit(self, group: str, resource: str, ns: str, obj: Obj, kind: str) -> Obj:
        """Store (or, for DELETED, drop) ``obj`` at a new resourceVersion; wake the watchers."""
        with self._changed:
            self._rv += 1
            key = (group, resource, ns, obj["metadata"]["name"])
            if kind == "DELETED":
                self._objects.pop(key, None)
            else:
                obj["metadata"]["resourceVersion"] = str(self._rv)
                self._objects[key] = obj
            if len(self._history) == self._history.maxlen:
                self._compacted = self._history[0][0]
            self._history.append((self._rv, kind, group, resource, ns, copy.deepcopy(obj)))
            self._changed.notify_all()
            return copy.deepcopy(obj)

    def _create(self, group: str, resource: str, ns: str, body: Any, dry: bool = False) -> Obj:
        kind = RESOURCES[(group, resource)][0]
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body is not an object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if ns and meta.get("namespace", ns) != ns:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match")
        with self._lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            if not meta.get("name"):
                raise ApiError(422, "Invalid", "name or generateName is required")
            if (group, resource, ns, meta["name"]) in self._objects:
                name = meta["name"]
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource} "{name}" already exists',
                    name=name,
                    kind=resource,
                )
            obj.update(kind=kind, apiVersion=api_version(group))
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
            meta.pop("resourceVersion", None)
            if ns:
                meta["namespace"] = ns
            self._default(group, resource, obj)
            if dry:
                return obj
            created = self._commit(group, resource, ns, obj, "ADDED")
        if resource == "pods" and self._kubelet is not None:
            threading.Thread(target=self._auto_run, args=(ns, meta["name"]), daemon=True).start()
        return created

    def _default(self, group: str, resource: str, obj: Obj) -> None:
        if resource == "pods":
            spec = obj.setdefault("spec", {})
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("serviceAccountName", "default")
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                latest = ":" not in c.get("image", "").rsplit("/", 1)[-1]
                c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif resource == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("clusterIP", f"10.96.{self._rv // 250 % 250}.{self._rv % 250 + 2}")
        elif resource == "secrets":
            obj.setdefault("type", "Opaque")
            for key, value in (obj.pop("stringData", None) or {}).items():
                obj.setdefault("data", {})[key] = base64.b64encode(value.encode()).decode()
        elif resource == "daemonsets":
            nodes = sum(1 for k in self._objects if k[1] == "nodes")
            obj["status"] = {
                "currentNumberScheduled": nodes,
                "desiredNumberScheduled": nodes,
                "numberMisscheduled": 0,
                "numberReady": 0,
            }

    def _write(self, group: str, resource: str, ns: str, name: str, new: Obj, sub: str) -> Obj:
        """Replace ``name`` with ``new`` (a PUT or a patched copy), keeping what the server owns."""
        with self._lock:
            old = self._read(group, resource, ns, name)
            given = new.get("metadata", {}).get("resourceVersion")
            if given and given != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    name=name,
                    kind=resource,
                )
            if new.get("metadata", {}).get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match")
            has_status = RESOURCES[(group, resource)][2]
            if sub == "status":
                obj = copy.deepcopy(old)
                obj["status"] = copy.deepcopy(new.get("status", {}))
            else:
                obj = copy.deepcopy(new)
                if has_status and "status" in old:
                    obj["status"] = copy.deepcopy(old["status"])
                meta = obj.setdefault("metadata", {})
                for key in ("uid", "creationTimestamp", "namespace", "name", "generation"):
                    if key in old["metadata"]:
                        meta[key] = old["metadata"][key]
                for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                    meta.pop(key, None)
                    if key in old["metadata"]:
                        meta[key] = old["metadata"][key]
                if obj.get("spec") != old.get("spec"):
                    meta["generation"] = old["metadata"].get("generation", 1) + 1
            obj.update(kind=old["kind"], apiVersion=old["apiVersion"])
            if resource == "secrets":
                self._default(group, resource, obj)
            return self._commit(group, resource, ns, obj, "MODIFIED")

    def _patch(self, key: tuple[str, str, str, str], body: Any, ctype: str, sub: str) -> Obj:
        with self._lock:
            old = self._read(*key)
            if "json-patch" in ctype:
                new = json_patch(old, body)
            elif any(t in ctype for t in ("merge-patch", "strategic-merge", "apply-patch")):
                new = merge_patch(old, body, strategic="strategic" in ctype or "apply" in ctype)
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {ctype}")
            return self._write(*key, new, sub)

    def _delete(self, group: str, resource: str, ns: str, name: str, grace: Any) -> Obj:
        with self._lock:
            obj = copy.deepcopy(self._read(group, resource, ns, name))
            process = self._processes.get(obj["metadata"]["uid"])
            graceful = resource == "pods" and (process or self.termination_delay > 0)
            if not graceful or grace == 0:
                if process is not None:
                    _kill(process)
                return self._commit(group, resource, ns, obj, "DELETED")
            if "deletionTimestamp" in obj["metadata"]:
                return obj
            seconds = (
                obj["spec"].get("terminationGracePeriodSeconds", 30) if grace is None else grace
            )
            obj["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=seconds)
            terminating = self._commit(group, resource, ns, obj, "MODIFIED")
        threading.Thread(target=self._terminate, args=(ns, name, process), daemon=True).start()
        return terminating

    def _terminate(self, ns: str, name: str, process: _Process | None) -> None:
        if process is not None:
            _kill(process)
        time.sleep(self.termination_delay)
        with self._lock:
            obj = self._objects.get(("", "pods", ns, name))
            if obj is not None and "deletionTimestamp" in obj["metadata"]:
                self._commit("", "pods", ns, copy.deepcopy(obj), "DELETED")

    def _list(self, group: str, resource: str, ns: str, query: dict[str, str]) -> Obj:
        labels = label_matcher(query.get("labelSelector", ""))
        fields = field_matcher(query.get("fieldSelector", ""))
        with self._lock:
            items = [
                {k: v for k, v in copy.deepcopy(o).items() if k not in ("kind", "apiVersion")}
                for (g, r, n, _), o in sorted(self._objects.items())
                if g == group and r == resource and ns in ("", n) and labels(o) and fields(o)
            ]
            rv = str(self._rv)
        meta: Obj = {"resourceVersion": rv}
        start = int(base64.b64decode(query["continue"])) if query.get("continue") else 0
        limit = int(query.get("limit") or 0)
        if limit and len(items) > start + limit:
            meta["continue"] = base64.b64encode(str(start + limit).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        items = items[start : start + limit] if limit else items[start:]
        kind = RESOURCES[(group, resource)][0]
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version(group),
            "metadata": meta,
            "items": items,
        }

    # -- watches -------------------------------------------------------------------------------
    def _watch(self, group: str, resource: str, ns: str, query: dict[str, str]) -> Iterator[Obj]:
        """The events of a watch (validated now, streamed as the caller iterates)."""
        labels = label_matcher(query.get("labelSelector", ""))
        fields = field_matcher(query.get("fieldSelector", ""))
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        kind = RESOURCES[(group, resource)][0]

        def matches(g: str, r: str, n: str, o: Obj) -> bool:
            return g == group and r == resource and ns in ("", n) and labels(o) and fields(o)

        with self._lock:
            generation = self._generation
            requested = query.get("resourceVersion", "")
            if requested in ("", "0"):
                cursor = self._rv
                initial = [
                    {"type": "ADDED", "object": copy.deepcopy(o)}
                    for (g, r, n, _), o in sorted(self._objects.items())
                    if matches(g, r, n, o)
                ]
            elif requested.isdigit():
                cursor, initial = int(requested), []
            else:
                raise ApiError(400, "BadRequest", f"invalid resourceVersion {requested!r}")

        def stream(cursor: int) -> Iterator[Obj]:
            yield from initial
            next_bookmark = time.monotonic() + self.bookmark_interval
            while True:
                with self._changed:
                    expired = cursor < self._compacted
                    if not expired and not (self._history and self._history[-1][0] > cursor):
                        wait = min(deadline, next_bookmark) if bookmarks else deadline
                        self._changed.wait(max(0.0, wait - time.monotonic()))
                    pending = [e for e in self._history if e[0] > cursor]
                    ended = self._stopping or generation != self._generation
                    oldest = self._compacted
                    cursor = max(cursor, self._rv) if not pending else pending[-1][0]
                if expired:
                    message = f"too old resource version: {cursor} ({oldest + 1})"
                    yield {"type": "ERROR", "object": ApiError(410, "Expired", message).status()}
                    return
                for _, etype, g, r, n, o in pending:
                    if matches(g, r, n, o):
                        yield {"type": etype, "object": o}
                if ended or time.monotonic() >= deadline:
                    return
                if bookmarks and time.monotonic() >= next_bookmark:
                    meta = {"resourceVersion": str(cursor)}
                    version = api_version(group)
                    yield {
                        "type": "BOOKMARK",
                        "object": {"kind": kind, "apiVersion": version, "metadata": meta},
                    }
                    next_bookmark = time.monotonic() + self.bookmark_interval

        return stream(cursor)

    def compact(self) -> None:
        """Forget the watch history: watching from any version older than now -> 410 Expired."""
        with self._lock:
            self._history.clear()
            self._compacted = self._rv

    def disconnect_watches(self) -> None:
        """End every open watch stream (as an API server restart or a load balancer would)."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    # -- test controls: nodes and other objects ------------------------------------------------
    def add_node(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        images: list[str] | None = None,
        allocatable: dict[str, str] | None = None,
        ready: bool = True,
    ) -> Obj:
        resources = {"cpu": "4", "memory": "16Gi", "pods": "110", **(allocatable or {})}
        status = {
            "conditions": [{"type": "Ready", "status": str(ready), "reason": "KubeletReady"}],
            "images": [{"names": [i], "sizeBytes": 1 << 28} for i in images or []],
            "allocatable": resources,
            "capacity": resources,
        }
        meta = {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}}
        return self._create("", "nodes", "", {"metadata": meta, "status": status})

    def set_node_images(self, node: str, images: list[str]) -> Obj:
        return self.set_status("nodes", node, {"images": [{"names": [i]} for i in images]})

    def set_status(
        self, resource: str, name: str, status: Obj, namespace: str = "default", group: str = ""
    ) -> Obj:
        """Merge ``status`` into an object's status (a controller's write), as MODIFIED."""
        ns = namespace if RESOURCES[(group, resource)][1] else ""
        with self._lock:
            obj = copy.deepcopy(self._read(group, resource, ns, name))
            obj["status"] = merge_patch(obj.get("status") or {}, status)
            return self._commit(group, resource, ns, obj, "MODIFIED")

    def daemonset_ready(
        self, name: str, namespace: str = "default", ready: int | None = None
    ) -> Obj:
        """Mark ``ready`` (default: all desired) of a DaemonSet's pods ready; the images of its
        containers then count as present on that many nodes (in name order)."""
        ds = self.get("daemonsets", name, namespace, group="apps")
        desired = ds["status"]["desiredNumberScheduled"]
        count = desired if ready is None else ready
        images = [c["image"] for c in ds["spec"]["template"]["spec"].get("containers", [])]
        for node in self.objects("nodes")[:count]:
            have = [i["names"][0] for i in node["status"].get("images", [])]
            self.set_node_images(
                node["metadata"]["name"], [*have, *(i for i in images if i not in have)]
            )
        return self.set_status(
            "daemonsets",
            name,
            {
                "numberReady": count,
                "numberAvailable": count,
                "updatedNumberScheduled": desired,
                "observedGeneration": ds["metadata"]["generation"],
            },
            namespace,
            group="apps",
        )

    # -- test controls: a pod's life -----------------------------------------------------------
    def _pod_key(self, pod: str, namespace: str | None) -> tuple[str, str, str, str]:
        with self._lock:
            keys = [k for k in self._objects if k[1] == "pods" and k[3] == pod]
            keys = [k for k in keys if namespace in (None, k[2])]
            if len(keys) != 1:
                raise KeyError(f"pod {pod!r} in {namespace or 'any namespace'}: {len(keys)} found")
            return keys[0]

    def _update_pod(self, pod: str, namespace: str | None, change: Callable[[Obj], None]) -> Obj:
        with self._lock:
            key = self._pod_key(pod, namespace)
            obj = copy.deepcopy(self._objects[key])
            change(obj)
            return self._commit("", "pods", key[2], obj, "MODIFIED")

    def event(
        self,
        pod: str,
        reason: str,
        message: str,
        type: str = "Normal",
        component: str = "kubelet",
        namespace: str | None = None,
    ) -> Obj:
        """Write a core/v1 Event about ``pod``, the way the scheduler or the kubelet does."""
        key = self._pod_key(pod, namespace)
        with self._lock:
            obj = copy.deepcopy(self._objects[key])
        host = obj["spec"].get("nodeName", "")
        container = (obj["spec"].get("containers") or [{}])[0].get("name", "")
        stamp = now()
        body = {
            "metadata": {"name": f"{pod}.{uuid.uuid4().hex[:16]}"},
            "involvedObject": {
                "kind": "Pod",
                "apiVersion": "v1",
                "namespace": key[2],
                "name": pod,
                "uid": obj["metadata"]["uid"],
                "resourceVersion": obj["metadata"]["resourceVersion"],
                **(
                    {"fieldPath": f"spec.containers{{{container}}}"}
                    if component == "kubelet"
                    else {}
                ),
            },
            "reason": reason,
            "message": message,
            "type": type,
            "count": 1,
            "source": {"component": component, **({"host": host} if host else {})},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        return self._create("", "events", key[2], body)

    def schedule(self, pod: str, node: str | None = None, namespace: str | None = None) -> Obj:
        nodes = [n["metadata"]["name"] for n in self.objects("nodes")]
        target = node or (nodes[0] if nodes else "node-1")

        def change(obj: Obj) -> None:
            obj["spec"]["nodeName"] = target
            _condition(obj, "PodScheduled", True)
            obj["status"].update(hostIP="127.0.0.1")

        updated = self._update_pod(pod, namespace, change)
        ns = updated["metadata"]["namespace"]
        message = f"Successfully assigned {ns}/{pod} to {target}"
        self.event(pod, "Scheduled", message, component="default-scheduler", namespace=ns)
        return updated

    def unschedulable(
        self,
        pod: str,
        message: str = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        namespace: str | None = None,
    ) -> Obj:
        updated = self._update_pod(
            pod, namespace, lambda o: _condition(o, "PodScheduled", False, "Unschedulable", message)
        )
        ns = updated["metadata"]["namespace"]
        self.event(pod, "FailedScheduling", message, "Warning", "default-scheduler", ns)
        return updated

    def container_creating(self, pod: str, namespace: str | None = None) -> Obj:
        """Pending, scheduled, its containers waiting in ContainerCreating."""
        if not self.get_pod(pod, namespace)["spec"].get("nodeName"):
            self.schedule(pod, namespace=namespace)

        def change(obj: Obj) -> None:
            _condition(obj, "Initialized", True)
            _condition(obj, "Ready", False, "ContainersNotReady")
            _condition(obj, "ContainersReady", False, "ContainersNotReady")
            _containers(obj, {"waiting": {"reason": "ContainerCreating"}}, ready=False)

        return self._update_pod(pod, namespace, change)

    def get_pod(self, pod: str, namespace: str | None = None) -> Obj:
        with self._lock:
            return copy.deepcopy(self._objects[self._pod_key(pod, namespace)])

    def _image(self, pod: str, namespace: str | None) -> str:
        return str(self.get_pod(pod, namespace)["spec"]["containers"][0]["image"])

    def pulling(self, pod: str, namespace: str | None = None) -> Obj:
        return self.event(
            pod, "Pulling", f'Pulling image "{self._image(pod, namespace)}"', namespace=namespace
        )

    def pulled(self, pod: str, namespace: str | None = None) -> Obj:
        image = self._image(pod, namespace)
        message = f'Successfully pulled image "{image}" in 1.2s (1.2s including waiting)'
        return self.event(pod, "Pulled", message, namespace=namespace)

    def pull_error(
        self,
        pod: str,
        reason: str = "ErrImagePull",
        message: str = "",
        namespace: str | None = None,
    ) -> Obj:
        """Containers waiting in ErrImagePull or ImagePullBackOff, with the kubelet's events."""
        image = self._image(pod, namespace)
        if reason == "ImagePullBackOff":
            message = message or f'Back-off pulling image "{image}"'
            self.event(pod, "BackOff", message, namespace=namespace)
        else:
            message = message or f'failed to pull and unpack image "{image}": not found'
            self.event(
                pod,
                "Failed",
                f'Failed to pull image "{image}": {message}',
                "Warning",
                namespace=namespace,
            )
        self.event(pod, "Failed", f"Error: {reason}", "Warning", namespace=namespace)
        return self._update_pod(
            pod,
            namespace,
            lambda o: _containers(o, {"waiting": {"reason": reason, "message": message}}, False),
        )

    def run(
        self, pod: str, ip: str | None = None, ready: bool = True, namespace: str | None = None
    ) -> Obj:
        """Running (containers started, Created and Started events), podIP set."""
        for reason, verb in (("Created", "Created"), ("Started", "Started")):
            self.event(pod, reason, f"{verb} container", namespace=namespace)
        address = ip or self._allocate_ip()

        def change(obj: Obj) -> None:
            obj["status"].update(
                phase="Running",
                podIP=address,
                podIPs=[{"ip": address}],
                startTime=obj["status"].get("startTime", now()),
            )
            _containers(obj, {"running": {"startedAt": now()}}, ready)
            for kind in ("Initialized", "PodScheduled"):
                _condition(obj, kind, True)
            for kind in ("Ready", "ContainersReady"):
                _condition(obj, kind, ready, "" if ready else "ContainersNotReady")

        return self._update_pod(pod, namespace, change)

    def set_ready(self, pod: str, ready: bool = True, namespace: str | None = None) -> Obj:
        def change(obj: Obj) -> None:
            for status in obj["status"].get("containerStatuses", []):
                status["ready"] = ready
            for kind in ("Ready", "ContainersReady"):
                _condition(obj, kind, ready, "" if ready else "ContainersNotReady")

        return self._update_pod(pod, namespace, change)

    def fail(
        self,
        pod: str,
        reason: str = "Error",
        message: str = "",
        exit_code: int = 1,
        namespace: str | None = None,
    ) -> Obj:
        """The container terminated: Failed (Succeeded for exit 0) under restartPolicy Never or
        OnFailure, CrashLoopBackOff and a BackOff event under Always."""
        obj = self.get_pod(pod, namespace)
        restart = obj["spec"]["restartPolicy"] == "Always" or (
            obj["spec"]["restartPolicy"] == "OnFailure" and exit_code != 0
        )
        terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "message": message,
            "startedAt": obj["status"].get("startTime", now()),
            "finishedAt": now(),
        }
        if restart:
            self.event(
                pod,
                "BackOff",
                "Back-off restarting failed container",
                "Warning",
                namespace=namespace,
            )

        def change(o: Obj) -> None:
            if restart:
                state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
                _containers(o, state, False, last={"terminated": terminated})
            else:
                _containers(o, {"terminated": terminated}, False)
                o["status"]["phase"] = "Succeeded" if exit_code == 0 else "Failed"
            for kind in ("Ready", "ContainersReady"):
                _condition(o, kind, False, "PodCompleted" if not restart else "ContainersNotReady")

        return self._update_pod(pod, namespace, change)

    def set_log(self, pod: str, text: str, namespace: str | None = None) -> None:
        with self._lock:
            self._logs[self.get_pod(pod, namespace)["metadata"]["uid"]] = text

    def _allocate_ip(self) -> str:
        with self._lock:
            self._next_ip += 1
            return f"127.77.{self._next_ip // 250 % 250}.{self._next_ip % 250 + 2}"

    # -- the automatic kubelet -----------------------------------------------------------------
    def start_kubelet(
        self,
        delay: float = 0.05,
        claims: dict[str, Path] | None = None,
        host_paths: dict[str, Path] | None = None,
        image_paths: dict[str, Path] | None = None,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
    ) -> None:
        """From now on, run every new pod: schedule, pull, materialise the volumes, run the init
        containers (file commands only) and a real Jupyter server at podIP:<containerPort>;
        Ready when its readinessProbe passes. ``claims`` maps a PVC's claimName to a host
        directory, ``host_paths`` a hostPath, ``image_paths`` a path in the image."""
        self._kubelet = _Kubelet(
            delay, claims or {}, host_paths or {}, image_paths or {}, python, startup_timeout
        )
        if not self.objects("nodes"):
            self.add_node("node-1")

    def _auto_run(self, ns: str, name: str) -> None:
        kubelet = self._kubelet
        assert kubelet is not None
        time.sleep(kubelet.delay)
        try:
            uid = self.get_pod(name, ns)["metadata"]["uid"]
            self.schedule(name, namespace=ns)
            self.container_creating(name, ns)
            pod = self.get_pod(name, ns)
            node = pod["spec"]["nodeName"]
            image = self._image(name, ns)
            self.pulling(name, ns)
            self.pulled(name, ns)
            have = [i["names"][0] for i in self.get("nodes", node)["status"].get("images", [])]
            if image not in have:
                self.set_node_images(node, [*have, image])
            root = self.workdir / "pods" / f"{ns}.{name}.{uid[:8]}"
            try:
                volumes = self._materialise(pod, root, kubelet)
            except MountError as e:
                self.event(name, "FailedMount", str(e), "Warning", namespace=ns)
                return
            for init in pod["spec"].get("initContainers", []):
                error = self._run_init(init, pod, volumes, kubelet)
                if error:
                    self.fail(
                        name, "NotEmulated" if "emulate" in error else "Error", error, namespace=ns
                    )
                    return
            ip = self._allocate_ip()
            process = self._start_server(pod, root, volumes, kubelet, ip)
            if process is None:
                return
            self.run(name, ip=ip, ready=False, namespace=ns)
            self._follow(name, ns, uid, pod, process, ip, kubelet)
        except KeyError:
            return  # the pod was deleted meanwhile

    def _mounts(
        self, container: Obj, volumes: dict[str, Path], kubelet: _Kubelet
    ) -> list[tuple[str, Path]]:
        mapping = [(p, h) for p, h in kubelet.image_paths.items()]
        for m in container.get("volumeMounts", []):
            host = volumes[m["name"]] / m.get("subPath", "")
            if m.get("subPath") and not host.exists():
                host.mkdir(parents=True)
            mapping.append((m["mountPath"].rstrip("/") or "/", host))
        return sorted(mapping, key=lambda m: -len(m[0]))

    @staticmethod
    def _rewrite(value: str, mapping: list[tuple[str, Path]]) -> str:
        if value.startswith("--") and "=" in value:
            flag, rest = value.split("=", 1)
            return f"{flag}={KubeAPI._rewrite(rest, mapping)}"
        for inside, host in mapping:
            if value == inside or value.startswith(inside + "/"):
                return str(host) + value[len(inside) :]
        return value

    def _materialise(self, pod: Obj, root: Path, kubelet: _Kubelet) -> dict[str, Path]:
        ns = pod["metadata"]["namespace"]
        volumes: dict[str, Path] = {}
        for v in pod["spec"].get("volumes", []):
            target = root / "volumes" / v["name"]
            if "emptyDir" in v:
                target.mkdir(parents=True, exist_ok=True)
            elif "configMap" in v or "secret" in v:
                source = v.get("configMap") or v["secret"]
                resource, ref = (
                    ("configmaps", source.get("name"))
                    if "configMap" in v
                    else ("secrets", source.get("secretName"))
                )
                try:
                    obj = self.get(resource, ref, ns)
                except ApiError as e:
                    if source.get("optional"):
                        obj = {}
                    else:
                        raise MountError(
                            f'MountVolume.SetUp failed for volume "{v["name"]}": {e.message}'
                        ) from e
                data = {k: base64.b64decode(b) for k, b in (obj.get("binaryData") or {}).items()}
                encoded = resource == "secrets"
                for k, s in (obj.get("data") or {}).items():
                    data[k] = base64.b64decode(s) if encoded else s.encode()
                items = source.get("items") or [{"key": k, "path": k} for k in data]
                target.mkdir(parents=True, exist_ok=True)
                for item in items:
                    path = target / item["path"]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data.get(item["key"], b""))
                    path.chmod(item.get("mode", source.get("defaultMode", 0o644)))
            elif "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                if claim not in kubelet.claims:
                    raise MountError(f'persistentvolumeclaim "{claim}" is not mapped by the test')
                target = kubelet.claims[claim]
            elif "hostPath" in v and v["hostPath"]["path"] in kubelet.host_paths:
                target = kubelet.host_paths[v["hostPath"]["path"]]
            else:
                raise MountError(f"volume {v['name']!r}: this kind of volume is not emulated")
            volumes[v["name"]] = target
        return volumes

    def _run_init(self, init: Obj, pod: Obj, volumes: dict[str, Path], kubelet: _Kubelet) -> str:
        """Run a file-commands-only init container; the error, or "" on success."""
        mapping = self._mounts(init, volumes, kubelet)
        words = [*init.get("command", []), *init.get("args", [])]
        if len(words) == 3 and Path(words[0]).name in ("sh", "bash") and words[1] == "-c":
            script = words[2]
        else:
            script = shlex.join(words)
        for command in re.split(r"&&|;|\n", script):
            argv = shlex.split(command)
            if not argv:
                continue
            if Path(argv[0]).name not in FILE_COMMANDS or any(c in command for c in "|$`<>"):
                return f"init container {init['name']!r}: {command.strip()!r} is not emulated"
            args: list[str] = []
            for arg in argv[1:]:
                arg = self._rewrite(arg, mapping)
                args.extend(sorted(glob.glob(arg)) or [arg] if not arg.startswith("-") else [arg])
            result = subprocess.run([Path(argv[0]).name, *args], capture_output=True, text=True)
            if result.returncode:
                return f"init container {init['name']!r}: {command.strip()!r}: {result.stderr}"
        return ""

    def _start_server(
        self, pod: Obj, root: Path, volumes: dict[str, Path], kubelet: _Kubelet, ip: str
    ) -> _Process | None:
        container = pod["spec"]["containers"][0]
        mapping = self._mounts(container, volumes, kubelet)
        ports = [p["containerPort"] for p in container.get("ports", [])] or [8888]
        kept = [
            self._rewrite(a, mapping)
            for a in [*container.get("command", []), *container.get("args", [])]
            if re.match(r"^--(\w+\.\w+=|config=|no-browser$|allow-root$)", a)
            # (what is forced below replaces the pod's own)
            and not re.match(r"^--ServerApp\.(ip|port|port_retries|open_browser)=", a)
        ]
        for d in ("home", "runtime", "data", "config", "root"):
            (root / d).mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": f"{Path(kubelet.python).parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "HOSTNAME": pod["metadata"]["name"],
            "HOME": str(root / "home"),
            "IPYTHONDIR": str(root / "home" / ".ipython"),
            "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
            "JUPYTER_DATA_DIR": str(root / "data"),
            "JUPYTER_CONFIG_DIR": str(root / "config"),
        }
        for key, value in self._environment(container, pod).items():
            rewritten = self._rewrite(value, mapping)
            if key not in JUPYTER_DIRS or rewritten != value:
                env[key] = rewritten
        cwd = Path(self._rewrite(container.get("workingDir", ""), mapping) or root / "root")
        argv = [
            kubelet.python,
            "-m",
            "jupyter_server",
            *kept,
            f"--ServerApp.ip={ip}",
            f"--ServerApp.port={ports[0]}",
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ]
        (root / "argv.json").write_text(json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}))
        log = root / "server.log"
        with self._lock:
            current = self._objects.get(
                ("", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
            )
            if (
                self._stopping
                or current is None
                or current["metadata"]["uid"] != pod["metadata"]["uid"]
            ):
                return None
            with log.open("ab") as out:
                popen = subprocess.Popen(
                    argv,
                    cwd=cwd if cwd.is_dir() else root,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            process = _Process(popen, log)
            self._processes[pod["metadata"]["uid"]] = process
        return process

    def _environment(self, container: Obj, pod: Obj) -> dict[str, str]:
        ns = pod["metadata"]["namespace"]
        env: dict[str, str] = {}

        def data(resource: str, name: str) -> dict[str, str]:
            obj = self.get(resource, name, ns)
            values = obj.get("data") or {}
            if resource == "secrets":
                return {k: base64.b64decode(v).decode() for k, v in values.items()}
            return dict(values)

        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(data("configmaps", source["configMapRef"]["name"]))
            elif "secretRef" in source:
                env.update(data("secrets", source["secretRef"]["name"]))
        for e in container.get("env", []):
            ref = e.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                env[e["name"]] = data("secrets", ref["secretKeyRef"]["name"])[
                    ref["secretKeyRef"]["key"]
                ]
            elif "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                env[e["name"]] = data("configmaps", r["name"])[r["key"]]
            elif "fieldRef" in ref:
                env[e["name"]] = field_value(pod, ref["fieldRef"]["fieldPath"])
            else:
                env[e["name"]] = e.get("value", "")
        return env

    def _follow(
        self, name: str, ns: str, uid: str, pod: Obj, process: _Process, ip: str, kubelet: _Kubelet
    ) -> None:
        """Wait for readiness (the readinessProbe's httpGet, else a TCP connect), then for exit."""
        container = pod["spec"]["containers"][0]
        probe = (container.get("readinessProbe") or {}).get("httpGet")
        port = ([p["containerPort"] for p in container.get("ports", [])] or [8888])[0]
        deadline = time.monotonic() + kubelet.startup_timeout
        while process.popen.poll() is None and time.monotonic() < deadline:
            if _probe(ip, port, probe):
                self.set_ready(name, True, ns)
                break
            time.sleep(0.1)
        code = process.popen.wait()
        with self._lock:
            self._processes.pop(uid, None)
            current = self._objects.get(("", "pods", ns, name))
            if process.stopping or current is None or current["metadata"]["uid"] != uid:
                return
        self.fail(
            name,
            "Completed" if code == 0 else "Error",
            f"the server exited with {code}",
            exit_code=code,
            namespace=ns,
        )

    def pod_log(self, uid: str) -> str:
        with self._lock:
            process = self._processes.get(uid)
            if process is None and uid not in self._logs:
                logs = list((self.workdir / "pods").glob(f"*.{uid[:8]}/server.log"))
                return logs[0].read_text(errors="replace") if logs else ""
            return process.log.read_text(errors="replace") if process else self._logs[uid]


def _probe(ip: str, port: int, probe: Obj | None) -> bool:
    try:
        if probe is None:
            socket.create_connection((ip, port), timeout=1).close()
            return True
        target = probe.get("port", port)
        url = f"http://{ip}:{target if isinstance(target, int) else port}{probe.get('path', '/')}"
        with urlopen(url, timeout=2) as r:
            return 200 <= int(r.status) < 400
    except (OSError, HTTPException):
        return False


def _kill(process: _Process, grace: float = 5.0) -> None:
    """Stop a pod's server by its process group (its pid leads a session of its own)."""
    process.stopping = True
    if process.popen.poll() is not None:
        return
    try:
        os.killpg(process.popen.pid, signal.SIGTERM)
        process.popen.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait()
    except ProcessLookupError:
        pass


def _condition(obj: Obj, kind: str, ok: bool, reason: str = "", message: str = "") -> None:
    conditions = obj["status"].setdefault("conditions", [])
    entry = {"type": kind, "status": str(ok), "lastProbeTime": None, "lastTransitionTime": now()}
    entry.update({"reason": reason} if reason else {})
    entry.update({"message": message} if message else {})
    for i, c in enumerate(conditions):
        if c["type"] == kind:
            if c["status"] == entry["status"]:
                entry["lastTransitionTime"] = c.get(
                    "lastTransitionTime", entry["lastTransitionTime"]
                )
            conditions[i] = entry
            return
    conditions.append(entry)


def _containers(obj: Obj, state: Obj, ready: bool, last: Obj | None = None) -> None:
    old = {s["name"]: s for s in obj["status"].get("containerStatuses", [])}
    obj["status"]["containerStatuses"] = [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "" if "waiting" in state else f"{c.get('image', '')}@sha256:{'0' * 64}",
            "ready": ready,
            "started": "running" in state,
            "state": copy.deepcopy(state),
            "restartCount": old.get(c["name"], {}).get("restartCount", 0) + (1 if last else 0),
            **({"lastState": last} if last else {}),
        }
        for c in obj["spec"].get("containers", [])
    ]


# -- HTTP -------------------------------------------------------------------------------------
@dataclass
class _Route:
    group: str
    namespace: str
    resource: str
    name: str = ""
    subresource: str = ""
    query: dict[str, str] = field(default_factory=dict)


def _route(path: str) -> _Route | None:
    url = urlsplit(path)
    parts = [p for p in url.path.split("/") if p]
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    ns = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and (group, rest[2]) in RESOURCES:
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    name, sub = [*rest, "", ""][1:3]
    return _Route(group, ns, rest[0], name, sub, query)


class _Handler(BaseHTTPRequestHandler):
    api: KubeAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            try:
                import yaml

                return yaml.safe_load(raw)
            except Exception as e:
                raise ApiError(400, "BadRequest", f"the body is not JSON: {e}") from e

    def _serve(self, method: str) -> None:
        api = self.api
        path = urlsplit(self.path).path.rstrip("/")
        if method == "GET" and path in ("/version", "/api", "/apis", "/healthz", "/readyz"):
            self._send(200, _discovery(path))
            return
        route = _route(self.path)
        try:
            body = self._body()
            if route is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            r, q = route, route.query
            watch = q.get("watch") in ("true", "1")
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method) or (
                ("watch" if watch else "get" if r.name else "list")
                if method == "GET"
                else "delete"
                if r.name
                else "deletecollection"
            )
            with api._lock:
                api.calls.append(
                    Call(verb, r.group, r.resource, r.subresource, r.namespace, r.name)
                )
                for inj in api._injected:
                    if inj.times > 0 and inj.verb == verb and inj.resource == r.resource:
                        inj.times -= 1
                        raise inj.error
            if (r.group, r.resource) not in RESOURCES or r.subresource not in ("", "status", "log"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if (
                RESOURCES[(r.group, r.resource)][1]
                and not r.namespace
                and (r.name or method != "GET")
            ):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            key = (r.group, r.resource, r.namespace, r.name)
            if watch:
                self._stream(api._watch(r.group, r.resource, r.namespace, q))
            elif method == "GET" and r.subresource == "log":
                with api._lock:
                    uid = api._read(*key)["metadata"]["uid"]
                text = api.pod_log(uid)
                if q.get("tailLines"):
                    text = "".join(text.splitlines(True)[-int(q["tailLines"]) :])
                self._send(200, text, "text/plain")
            elif method == "GET" and r.name:
                with api._lock:
                    self._send(200, api._read(*key))
            elif method == "GET":
                self._send(200, api._list(r.group, r.resource, r.namespace, q))
            elif method == "POST":
                dry = "dryRun" in q
                self._send(201, api._create(r.group, r.resource, r.namespace, body, dry))
            elif method == "PUT":
                self._send(200, api._write(*key, body or {}, r.subresource))
            elif method == "PATCH":
                self._send(
                    200, api._patch(key, body, self.headers.get("Content-Type", ""), r.subresource)
                )
            elif r.name:
                grace = (body or {}).get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
                deleted = api._delete(*key, None if grace is None else int(grace))
                if (r.group, r.resource) not in RETURNS_OBJECT_ON_DELETE:
                    deleted = {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": r.name,
                            "group": r.group,
                            "kind": r.resource,
                            "uid": deleted["metadata"]["uid"],
                        },
                    }
                self._send(200, deleted)
            else:
                listed = api._list(r.group, r.resource, r.namespace, q)
                for item in listed["items"]:
                    api._delete(
                        r.group,
                        r.resource,
                        r.namespace or item["metadata"].get("namespace", ""),
                        item["metadata"]["name"],
                        None,
                    )
                self._send(
                    200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
                )
        except ApiError as e:
            self._send(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _stream(self, events: Iterator[Obj]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _discovery(path: str) -> Any:
    if path == "/version":
        return {"major": "1", "minor": "33", "gitVersion": "v1.33.0-kubeapi-emulator"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = sorted({g for g, _ in RESOURCES if g})
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": g,
                    "versions": [{"groupVersion": api_version(g), "version": VERSIONS[g]}],
                    "preferredVersion": {"groupVersion": api_version(g), "version": VERSIONS[g]},
                }
                for g in groups
            ],
        }
    return "ok"
