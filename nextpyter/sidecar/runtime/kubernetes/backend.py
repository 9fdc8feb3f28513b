"""The ``kubernetes`` backend's shell over the official client: what to create comes from
objects.py, what the cluster says is read by watch.py and events.py.

Guarantees:
- the gateway reaches a server at ``<podIP>:8888`` (Jupyter on TCP in the pod: unix
  sockets do not cross nodes), answered from the informer's cache with no I/O, so every
  gateway and sidecar, started or restarted, routes every running server;
- state is the API's (labels ``org.nextpyter.*``): nothing is kept in a table of one
  process; the user's spawn lock and the API's 409 on a duplicate name together keep a
  user at one pod, whichever replicas start it;
- ``wait_ready`` is told (pod watch, event watch) and ends at once on what waiting cannot
  heal, with the cause and what to do;
- every failure of the API becomes a :class:`BackendError` with a message for a person.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException

from ...kube_settings import KubernetesSettings
from ...slugs import is_slug
from ..base import ORPHAN_GRACE, Backend, BackendError, Server, ServerSpec
from ..docker_spec import share_files
from . import events
from .client import address, age, api, as_json, connect, http_get, meta, request_body, unreachable
from .objects import (
    GATEWAY_SECRET,
    JUPYTER_FILES,
    LABEL,
    PORT,
    SERVER,
    installation_id,
    make_jupyter_configmap,
    make_pod,
    make_secret,
    pod_name,
    selector,
)
from .prepull import PrePulls
from .watch import EventFeed, Informer, list_raw

log = logging.getLogger(__name__)
SYNC_TIMEOUT = 10.0  # how long a cold informer may take to list
GONE_TIMEOUT = 30.0  # beyond the grace period: how long a pod may take to disappear
ANSWER_EVERY = 0.01  # once the container runs: how often to try Jupyter (as sockets.py)
# Where the gateway goes for a slug without a running pod: nothing listens on /dev/null,
# so nginx fails at once (502, "your server is not running"), as for a missing socket.
NO_UPSTREAM = "unix:/dev/null:"


class KubernetesBackend(PrePulls, Backend):
    name = "kubernetes"
    uses_images = True
    node_pulls = True

    def __init__(
        self, settings: KubernetesSettings, client: kubernetes.client.ApiClient | None = None
    ) -> None:
        self.settings = settings
        self.namespace = settings.namespace
        self.installation = installation_id(settings.namespace, settings.data_claim)
        self.configmap = make_jupyter_configmap(share_files(), self.installation)
        self.client = client or connect(settings)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.apps = kubernetes.client.AppsV1Api(self.client)
        self.pods = Informer(
            self.core.list_namespaced_pod, self.namespace, selector(self.installation, SERVER)
        )
        self._configmap_made = False

    def close(self) -> None:
        self.pods.stop()

    # -- the cache -------------------------------------------------------------------------
    def _synced(self) -> None:
        if not self.pods.ensure(SYNC_TIMEOUT):
            raise BackendError(unreachable(self.pods.error or "no answer"))

    def _server(self, pod: Mapping[str, Any]) -> Server:
        labels, notes = meta(pod).get("labels") or {}, meta(pod).get("annotations") or {}
        try:
            created = float(labels.get(LABEL + "created", "0"))
        except ValueError:
            created = 0.0
        return Server(
            user_id=notes.get(LABEL + "user", ""),
            slug=labels.get(LABEL + "slug", ""),
            profile=labels.get(LABEL + "profile", ""),
            state="running" if events.is_running(pod) else "starting",
            created=created,
            detail=notes.get(LABEL + "image", ""),
        )

    @staticmethod
    def _alive(pod: Mapping[str, Any]) -> bool:
        return not meta(pod).get("deletionTimestamp") and events.from_pod(pod) is None

    def _gone(self, name: str, timeout: float) -> bool:
        return (
            self.pods.wait(lambda: True if self.pods.get(name) is None else None, timeout) is True
        )

    # -- the interface -----------------------------------------------------------------------
    def has_image(self, image: str) -> bool:
        return True  # each node's kubelet pulls it when the pod starts (events: Pulling)

    def status(self, slug: str) -> Server | None:
        """From the cache: a pod that is running or still starting; None for none, one
        being deleted, or one that cannot serve any more (start() replaces it)."""
        self._synced()
        pod = self.pods.get(pod_name(slug))
        return self._server(pod) if pod is not None and self._alive(pod) else None

    def list(self) -> list[Server]:
        self._synced()
        return [
            self._server(p)
            for p in self.pods.objects()
            if self._alive(p) and is_slug((meta(p).get("labels") or {}).get(LABEL + "slug", ""))
        ]

    def upstream(self, slug: str) -> str:
        if not is_slug(slug):
            raise BackendError(f"{slug!r} is not a server name")
        if not self.pods.ensure(SYNC_TIMEOUT):
            return NO_UPSTREAM
        pod = self.pods.get(pod_name(slug))
        if pod is None or not events.is_running(pod):
            return NO_UPSTREAM
        return f"{address(pod)}:{PORT}"

    def _read_pod(self, name: str) -> dict[str, Any] | None:
        try:
            with api(passing=(404,)):
                return as_json(
                    self.core.read_namespaced_pod(name, self.namespace, _preload_content=False)
                )
        except ApiException:
            return None

    def _check_ours(self, pod: Mapping[str, Any]) -> None:
        if (meta(pod).get("labels") or {}).get(LABEL + "installation") != self.installation:
            raise BackendError(
                f"A pod named {meta(pod).get('name')} exists in the namespace {self.namespace} "
                "but was not started by this NextPyter installation; ask your administrator "
                "to remove it."
            )

    def _delete(self, kind: str, name: str, grace: int | None = None) -> bool:
        call = getattr(self.core, f"delete_namespaced_{kind}")
        options = {} if grace is None else {"grace_period_seconds": grace}
        try:
            with api(passing=(404,)):
                call(name, self.namespace, _preload_content=False, **options)
        except ApiException:
            return False
        return True

    def _make_configmap(self) -> None:
        if self._configmap_made:
            return
        with contextlib.suppress(ApiException), api(passing=(409,)):
            # Named after its content and immutable: a 409 is the same files, made already.
            self.core.create_namespaced_config_map(
                self.namespace, request_body(self.configmap), _preload_content=False
            )
        self._configmap_made = True

    def _put_secret(self, spec: ServerSpec) -> None:
        body = make_secret(spec, self.installation)
        for _ in range(3):
            try:
                with api(passing=(409,)):
                    self.core.create_namespaced_secret(
                        self.namespace, request_body(body), _preload_content=False
                    )
                return
            except ApiException:  # left by a crash: made anew (the key may have changed)
                with api(passing=()):
                    self._delete("secret", body["metadata"]["name"])
        raise BackendError("The server's Secret could not be made; open the notebook again.")

    def start(self, spec: ServerSpec) -> Server:
        """Start the server, or return the pod there already (running or still starting);
        a pod that cannot serve any more is replaced. The caller holds the spawn lock."""
        self._synced()
        name = pod_name(spec.slug)
        for _ in range(3):
            existing = self._read_pod(name)
            if existing is not None:
                self._check_ours(existing)
                if self._alive(existing):
                    return self._server(existing)
                if not meta(existing).get("deletionTimestamp"):
                    with api(passing=()):
                        self._delete("pod", name, grace=0)
                self._gone(name, self.settings.stop_timeout + GONE_TIMEOUT)
                continue
            self._make_configmap()
            self._put_secret(spec)
            pod = make_pod(spec, self.settings, self.installation, self.configmap, time.time())
            try:
                with api(passing=(409,)):
                    made = self.core.create_namespaced_pod(
                        self.namespace, request_body(pod), _preload_content=False
                    )
                return self._server(as_json(made))
            except ApiException:
                continue  # made by another start meanwhile: look at it again
        raise BackendError(
            "The server's previous pod is still being removed. Open the notebook again in a minute."
        )

    def wait_ready(
        self, slug: str, timeout: float, progress: Callable[[str], None] | None = None
    ) -> Server:
        """Wait, told by the watches, until Jupyter in the pod answers; pass each event's
        message to ``progress``; end at once with the cause on what waiting cannot heal."""
        self._synced()
        name = pod_name(slug)
        pod = self.pods.get(name)
        seen = pod is not None
        pod = pod or self._read_pod(name)  # made a moment ago: the cache may not have it yet
        if pod is None:
            raise BackendError("The server is not running.")
        uid = meta(pod).get("uid", "")
        deadline = time.monotonic() + timeout
        said: list[dict[str, Any]] = []

        def heard(event: dict[str, Any]) -> None:
            with self.pods.changed:
                said.append(event)
                self.pods.changed.notify_all()

        def look() -> tuple[str, Any] | None:
            nonlocal seen
            if said:
                return "event", said.pop(0)
            current = self.pods.get(name)
            if current is None:
                return ("gone", None) if seen else None
            seen = True
            if meta(current).get("uid") != uid or meta(current).get("deletionTimestamp"):
                return "gone", None
            failure = events.from_pod(current)
            if failure is not None:
                return "failed", failure.message
            return ("running", current) if events.is_running(current) else None

        feed = None
        if progress is not None or not events.is_running(pod):
            feed = EventFeed(self.core.list_namespaced_event, self.namespace, name, uid, heard)
        last = ""

        def tell(event: dict[str, Any]) -> None:
            nonlocal last
            step = events.from_event(event)
            if isinstance(step, events.Failure):
                raise BackendError(step.message)
            if step and step != last and progress is not None:
                progress(step)
            last = step or last

        try:
            while True:
                answer = self.pods.wait(look, deadline - time.monotonic())
                if answer is None:
                    raise BackendError(f"The Jupyter server did not start within {timeout:.0f} s.")
                what, value = answer
                if what == "gone":
                    raise BackendError("The server was removed while it started.")
                if what == "failed":
                    raise BackendError(value)
                if what == "event":
                    tell(value)
                    continue
                self._answering(slug, value, deadline, timeout, look, tell)
                return self._server(value)
        finally:
            if feed is not None:
                feed.close()

    def _answering(
        self,
        slug: str,
        pod: Mapping[str, Any],
        deadline: float,
        timeout: float,
        look: Callable[[], tuple[str, Any] | None],
        tell: Callable[[dict[str, Any]], None],
    ) -> None:
        """The container runs: one request must be answered (Jupyter binds a moment after it
        starts); try every ANSWER_EVERY s (as sockets.wait_answering does), passing on the
        events meanwhile, giving up if the pod fails."""
        host = address(pod)
        while True:
            try:
                http_get(host, f"/user/{slug}/api", max(0.1, min(2.0, deadline - time.monotonic())))
                return
            except (OSError, http.client.HTTPException):
                pass  # not listening yet
            while True:
                with self.pods.changed:
                    state = look()
                if state is None or state[0] == "running":
                    break
                if state[0] == "event":
                    tell(state[1])
                    continue
                raise BackendError(
                    state[1] if state[0] == "failed" else "The server was removed while it started."
                )
            if time.monotonic() > deadline:
                raise BackendError(f"The Jupyter server did not start within {timeout:.0f} s.")
            time.sleep(ANSWER_EVERY)

    def activity(self, slug: str, secret: str) -> float | None:
        """When the server was last used, as it says itself (its /api/status)."""
        pod = self.pods.get(pod_name(slug))
        if pod is None or not events.is_running(pod):
            return None
        try:
            status, body = http_get(address(pod), f"/user/{slug}/api/status", 5.0, secret)
            if status != 200:
                return None
            stamp = json.loads(body)["last_activity"]
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):
            return None

    def stop(self, slug: str) -> bool:
        """Delete the pod (SIGTERM, SIGKILL after the grace period) and its Secret; return
        once the API has let go of the pod's name."""
        self._synced()
        name = pod_name(slug)
        with api(passing=()):
            existed = self._delete("pod", name, grace=self.settings.stop_timeout)
            self._delete("secret", name)
        if existed:
            self._gone(name, self.settings.stop_timeout + GONE_TIMEOUT)
        return existed

    def reconcile(self, busy: Callable[[str], bool] = lambda slug: False) -> None:
        """Adopt running pods (and those still starting under their user's lock); remove
        Failed and Succeeded pods, pods that cannot start, Pending pods whose start is no
        longer under way, Secrets without a pod, and Jupyter ConfigMaps no pod uses."""
        now = time.time()
        with api(passing=()):
            pods = (
                list_raw(
                    self.core.list_namespaced_pod,
                    namespace=self.namespace,
                    label_selector=selector(self.installation, SERVER),
                ).get("items")
                or []
            )
        keep, used = set(), {self.configmap["metadata"]["name"]}
        for pod in pods:
            slug = (meta(pod).get("labels") or {}).get(LABEL + "slug", "")
            for volume in (pod.get("spec") or {}).get("volumes") or []:
                used.add(str((volume.get("configMap") or {}).get("name") or ""))
            if not is_slug(slug) or meta(pod).get("name") != pod_name(slug):
                continue
            if (
                busy(slug)
                or meta(pod).get("deletionTimestamp")
                or events.is_running(pod)
                or (self._alive(pod) and age(pod, now) <= ORPHAN_GRACE)
            ):
                keep.add(slug)
            else:
                with contextlib.suppress(BackendError), api(passing=()):
                    self._delete("pod", pod_name(slug), grace=0)
        for kind, component in (("secret", GATEWAY_SECRET), ("config_map", JUPYTER_FILES)):
            call = getattr(self.core, f"list_namespaced_{kind}")
            with api(passing=()):
                items = (
                    list_raw(
                        call,
                        namespace=self.namespace,
                        label_selector=selector(self.installation, component),
                    ).get("items")
                    or []
                )
            for item in items:
                name = str(meta(item).get("name") or "")
                slug = (meta(item).get("labels") or {}).get(LABEL + "slug", "")
                if age(item, now) <= ORPHAN_GRACE or name in used:
                    continue
                if kind == "secret" and (slug in keep or not is_slug(slug) or busy(slug)):
                    continue
                with contextlib.suppress(BackendError), api(passing=()):
                    self._delete(kind, name)
