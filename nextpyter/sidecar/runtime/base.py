"""The interface every runtime backend implements (local processes, Docker, Kubernetes).

A backend keeps its state in the runtime itself (pid files and the process
table, container labels, pod labels), so that any sidecar replica, or one just
restarted, sees every running server and can reach it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# What reconcile() finds without an owner (a process, a container, a server's directory)
# is removed only when older than this: a younger one may be a start under way elsewhere.
ORPHAN_GRACE = 30.0


@dataclass(frozen=True)
class ServerSpec:
    """What to start: everything comes from a verified token and the settings."""

    user_id: str
    slug: str
    profile: str
    files_dir: Path
    secret: str  # what the gateway shows the server (see nextpyter/jupyter/identity.py)
    # What the server runs (container backends) and within which limits (the profile's).
    image: str = ""
    cpu: float = 1.0
    memory: str = "2g"
    pids: int = 1024
    gpu: int = 0
    # The GPUs assigned to it (device indices or UUIDs; gpus.py), when the sidecar keeps an
    # inventory; without one, ``gpu`` is a count the runtime picks devices for.
    gpu_ids: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return f"/user/{self.slug}/"


@dataclass(frozen=True)
class Server:
    """A user's server as the runtime reports it."""

    user_id: str
    slug: str
    profile: str
    state: str  # "starting" | "running"
    created: float
    detail: str = ""
    gpus: tuple[str, ...] = ()  # the GPUs assigned to it (docker and local; gpus.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BackendError(Exception):
    """The runtime could not do what was asked; the message is for the user."""


class Backend(abc.ABC):
    name: str
    # Whether servers run an image (so the launch checks it against the allowed list).
    uses_images: bool = False

    # Whether the runtime pulls images onto its nodes itself (Kubernetes: prepull() and
    # image_report()) rather than through pagletto's pull queue.
    node_pulls: bool = False

    def has_image(self, image: str) -> bool:
        """Whether ``image`` is where servers start from (so no pull is needed)."""
        return True

    def prepull(self, images: Sequence[str]) -> dict[str, dict[str, int] | None]:
        """Have every node pull ``images``; :meth:`image_report` of them (node_pulls only)."""
        raise NotImplementedError

    def image_report(self, images: Sequence[str]) -> dict[str, dict[str, int] | None]:
        """For each image, ``{"ready": n, "nodes": m}``, or None if never pre-pulled."""
        raise NotImplementedError

    @abc.abstractmethod
    def start(self, spec: ServerSpec) -> Server:
        """Start ``spec``'s server (or return the one already there)."""

    @abc.abstractmethod
    def wait_ready(
        self, slug: str, timeout: float, progress: Callable[[str], None] | None = None
    ) -> Server:
        """Block until the server answers HTTP; raise :class:`BackendError` on failure.
        ``progress`` is told what the runtime says meanwhile (Kubernetes: the pod's events),
        as messages for the user; backends with nothing to say never call it."""

    @abc.abstractmethod
    def status(self, slug: str) -> Server | None:
        """The user's server, or None when there is none (dead ones are cleaned up)."""

    @abc.abstractmethod
    def stop(self, slug: str) -> bool:
        """Stop and remove the server; False if there was none."""

    @abc.abstractmethod
    def list(self) -> list[Server]:
        """Every server this backend runs."""

    @abc.abstractmethod
    def reconcile(self, busy: Callable[[str], bool] = lambda slug: False) -> None:
        """Adopt what runs, remove what is dead or half-created, leave no orphan; leave
        alone the users for whom ``busy(slug)`` is true (a start or stop holds their
        spawn lock)."""

    @abc.abstractmethod
    def activity(self, slug: str, secret: str) -> float | None:
        """When the server was last used (Unix time), as it reports it itself, or None
        when it does not answer."""

    @abc.abstractmethod
    def upstream(self, slug: str) -> str:
        """Where the gateway sends ``slug``'s requests (nginx ``proxy_pass`` form),
        computed without any I/O."""
