"""The sidecar's view of the cluster: one informer per process (list, then watch from the
list's resourceVersion; bookmarks keep that version fresh; 410 Gone means list again),
and an event feed per starting pod, both on one thread each, waking waiters through a
:class:`threading.Condition`, so that nobody polls the API.

What the informer holds is the API's JSON of every pod matching a label selector, keyed by
name. Readers (``get``, ``pods``, ``wait``) never do I/O: a request of the gateway is
answered from memory. The first reader of a cold informer waits for its first list
(bounded); from then on the cache follows the API by itself, and a sidecar that starts or
restarts sees every pod after that one list.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger(__name__)
T = TypeVar("T")
WATCH_SECONDS = 240  # the API ends a watch after this; the informer resumes at once
RETRY = 1.0  # after a failed list or watch (the API unreachable): wait this, try again
CONNECT_TIMEOUT = 5.0


class Gone(Exception):
    """The resourceVersion a watch asked for is too old (410): list again."""


class Stream:
    """One watch request: its events as dicts; :meth:`close` from any thread ends it."""

    def __init__(self, response: urllib3.HTTPResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for line in iter_resp_lines(self._response):  # type: ignore[no-untyped-call]
            event = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                if status.get("code") == 410:
                    raise Gone(status.get("message", "resourceVersion too old"))
                raise ApiException(status=status.get("code"), reason=status.get("message"))
            yield event

    def close(self) -> None:
        shutdown = getattr(self._response, "shutdown", None)
        try:
            if shutdown is not None:
                shutdown()  # wakes a thread blocked reading it (urllib3 >= 2.3)
            self._response.close()
        except Exception:  # noqa: S110 - closing what may already be closed
            pass


def open_watch(call: Callable[..., Any], **kwargs: Any) -> Stream:
    """``call`` (a client ``list_*`` method) as a watch, raw (no model building)."""
    try:
        response = call(
            watch=True,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS,
            _preload_content=False,
            _request_timeout=(CONNECT_TIMEOUT, WATCH_SECONDS + 30),
            **kwargs,
        )
    except ApiException as error:
        if error.status == 410:
            raise Gone(str(error.reason)) from None
        raise
    return Stream(response)


def list_raw(call: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """``call`` (a client ``list_*`` method) as the API's JSON."""
    response = call(_preload_content=False, _request_timeout=(CONNECT_TIMEOUT, 60), **kwargs)
    body: dict[str, Any] = json.loads(response.data)
    return body


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _version(obj: Mapping[str, Any]) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None


class Informer:
    """List + watch of ``call``'s objects with ``selector``, cached by name."""

    def __init__(self, call: Callable[..., Any], namespace: str, selector: str) -> None:
        self._call = call
        self._namespace = namespace
        self._selector = selector
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self.changed = threading.Condition()
        self._objects: dict[str, dict[str, Any]] = {}
        self._synced = False
        self._stopping = threading.Event()
        self._stream: Stream | None = None
        self._thread: threading.Thread | None = None
        self.error = ""
        self.lists = 0  # how many times it listed (the first, and after each 410)
        self.version: str | None = None

    # -- readers (no I/O) ----------------------------------------------------------------
    def get(self, name: str) -> dict[str, Any] | None:
        with self.changed:
            return self._objects.get(name)

    def objects(self) -> list[dict[str, Any]]:
        with self.changed:
            return list(self._objects.values())

    def wait(self, check: Callable[[], T | None], timeout: float) -> T | None:
        """``check()``'s first answer that is not None, asked at each change (and whenever
        :meth:`notify` is called); None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                answer = check()
                left = deadline - time.monotonic()
                if answer is not None or left <= 0:
                    return answer
                self.changed.wait(left)

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # -- the thread ------------------------------------------------------------------------
    def ensure(self, timeout: float) -> bool:
        """Start the thread if this process has none; whether the cache has listed (waits
        up to ``timeout`` for the first list)."""
        if self._pid != os.getpid():
            self._reset()  # a forked child: the parent's thread is not here
        with self.changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kube-informer", daemon=True)
                self._thread.start()
        return self.wait(lambda: True if self._synced else None, timeout) is True

    def stop(self) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        version: str | None = None
        while not self._stopping.is_set():
            try:
                if version is None:
                    version = self._relist()
                version = self._watch(version)
            except Gone:
                log.info("pod watch: resourceVersion %s expired; listing again", version)
                version = None
            except (
                ApiException,
                urllib3.exceptions.HTTPError,
                OSError,
                ValueError,
                AttributeError,
            ) as error:
                if self._stopping.is_set():
                    break
                self.error = str(getattr(error, "reason", None) or error)
                log.warning("pod watch failed (%s); again in %s s", self.error, RETRY)
                self._stopping.wait(RETRY)

    def _relist(self) -> str:
        body = list_raw(self._call, namespace=self._namespace, label_selector=self._selector)
        objects = {_name(o): o for o in body.get("items") or []}
        version = _version(body) or "0"
        with self.changed:
            self._objects = objects
            self._synced = True
            self.lists += 1
            self.version = version
            self.error = ""
            self.changed.notify_all()
        return version

    def _watch(self, version: str) -> str:
        stream = open_watch(
            self._call,
            namespace=self._namespace,
            label_selector=self._selector,
            resource_version=version,
        )
        self._stream = stream
        try:
            if self._stopping.is_set():
                return version
            for event in stream:
                obj = event.get("object") or {}
                version = _version(obj) or version
                with self.changed:
                    kind = event.get("type")
                    if kind in {"ADDED", "MODIFIED"}:
                        self._objects[_name(obj)] = obj
                    elif kind == "DELETED":
                        self._objects.pop(_name(obj), None)
                    self.version = version  # BOOKMARK: only this
                    self.changed.notify_all()
        finally:
            self._stream = None
            stream.close()
        return version


class EventFeed:
    """The events of one pod (by name and uid), from a list and a watch from its version,
    each passed to ``sink``; a thread of its own, until :meth:`close`."""

    def __init__(
        self,
        call: Callable[..., Any],
        namespace: str,
        pod: str,
        uid: str,
        sink: Callable[[dict[str, Any]], None],
    ) -> None:
        self._call = call
        self._namespace = namespace
        self._selector = f"involvedObject.name={pod}"
        self._uid = uid
        self._sink = sink
        self._closed = threading.Event()
        self._stream: Stream | None = None
        # The first list before the thread: whoever waits has what happened so far at once.
        version: str | None = None
        try:
            version = self._list()
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            log.warning("event list of %s failed (%s)", self._selector, error)
        self._thread = threading.Thread(
            target=self._run, args=(version,), name=f"kube-events-{pod}", daemon=True
        )
        self._thread.start()

    def _list(self) -> str:
        body = list_raw(self._call, namespace=self._namespace, field_selector=self._selector)
        for item in body.get("items") or []:
            self._pass(item)
        return _version(body) or "0"

    def _pass(self, event: Mapping[str, Any]) -> None:
        involved = event.get("involvedObject") or {}
        if not self._uid or involved.get("uid") in (None, "", self._uid):
            self._sink(dict(event))

    def _run(self, version: str | None) -> None:
        while not self._closed.is_set():
            try:
                if version is None:
                    version = self._list()
                self._stream = open_watch(
                    self._call,
                    namespace=self._namespace,
                    field_selector=self._selector,
                    resource_version=version,
                )
                if self._closed.is_set():
                    break
                for change in self._stream:
                    obj = change.get("object") or {}
                    version = _version(obj) or version
                    if change.get("type") in {"ADDED", "MODIFIED"}:
                        self._pass(obj)
            except Gone:
                version = None  # listed again: a repeat of a message is harmless
            except (
                ApiException,
                urllib3.exceptions.HTTPError,
                OSError,
                ValueError,
                AttributeError,
            ) as error:
                if self._closed.is_set():
                    break
                log.warning("event watch of %s failed (%s)", self._selector, error)
                self._closed.wait(RETRY)
            finally:
                if self._stream is not None:
                    self._stream.close()

    def close(self) -> None:
        self._closed.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        self._thread.join(timeout=5)
