"""The ``docker`` backend: one hardened Jupyter container per user on a Docker engine.

The engine is found as every Docker client finds it (``DOCKER_HOST``, and
``DOCKER_TLS_VERIFY`` with ``DOCKER_CERT_PATH`` for a remote engine such as
Docker-in-Docker over TLS). What a container looks like is decided by one pure
function, :func:`~.docker_spec.build_container_spec` (docker_spec.py); the rest is a
thin shell around the ``docker`` SDK.

How the gateway reaches a server: over a unix socket, as on the local backend.
Each user has a directory ``<runtime_dir>/docker/servers/<slug>/`` on the
engine's host (mode 0711, owned by the notebook uid), mounted at
``/run/nextpyter`` in that user's container only; Jupyter listens on
``jupyter.sock`` there and on no TCP port at all. The sidecar hard-links that
socket to ``<runtime_dir>/docker/sockets/<slug>.sock``, which the notebook cannot
touch, and the gateway connects only there. So:

- the gateway's upstream is derived from the slug, with no table a restart could
  lose, no published host port and no network the gateway must join;
- user containers cannot connect to each other's servers: a server has no
  address on any network, and no container sees another's socket directory;
- a notebook cannot point the gateway at another socket of the host;
- the server's own secret (``gateway-secret``, 0600) arrives in that directory
  and is removed by the server once read.

The runtime directory must therefore be the same path for the sidecar, the
engine and the gateway, as Nextcloud's data directory must be for the sidecar
and the engine.

Outbound network access (for ``pip install``) is a setting, on by default: the
containers join one bridge network of NextPyter's own, on the Linux bridge
``nextpyter0``, created with inter-container traffic off; the egress rules of
egress.py, on the engine's host, keep them from everything but the internet.
Off, a container has no network at all.

The engine is the only record of what runs: containers are named
``nextpyter-<slug>`` and carry ``org.nextpyter.*`` labels (installation, user,
slug, profile, image, created), from which every sidecar replica, or one just
restarted, reads what it needs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import requests
from docker.models.containers import Container

from ...common.engine import EngineTooOld, connect_engine
from ...common.env import ConfigError
from ..config import DockerSettings
from ..slugs import is_slug
from .base import ORPHAN_GRACE, Backend, BackendError, Server, ServerSpec
from .docker_spec import (
    LABEL,
    build_container_spec,
    container_name,
    installation_id,
    share_files,
)
from .egress import USERS_BRIDGE
from .sockets import SECRET_FILE, SOCKET, SocketDirs, fitting, last_activity, wait_answering

ENGINE_RETRY = 5.0  # while the engine is unreachable: how long a failure is the answer
STATE_CHECK_EVERY = 0.25  # while waiting for a server: how often to ask the engine about it


@contextlib.contextmanager
def _engine() -> Iterator[None]:
    """Engine calls: any failure but "no such thing" (NotFound, for the caller to handle)
    becomes a :class:`BackendError` with a message a person can act on."""
    try:
        yield
    except docker.errors.NotFound:
        raise
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise _engine_error(error) from None


def _files_error(error: OSError) -> BackendError:
    return BackendError(
        f"NextPyter could not prepare the server's files on the engine's host ({error.strerror}"
        f": {error.filename}). Ask your administrator to check NEXTPYTER_RUNTIME_DIR (its "
        "space, and that the sidecar runs as root or as the notebook uid)."
    )


def _engine_error(error: Exception) -> BackendError:
    if isinstance(error, docker.errors.APIError):  # the engine answered: say what it said
        return BackendError(f"The Docker engine refused: {error.explanation or error}")
    if isinstance(error, requests.ConnectionError | docker.errors.DockerException):
        return BackendError(
            "NextPyter cannot reach its Docker engine. Try again in a minute; if it keeps "
            "happening, ask your administrator to check the engine and DOCKER_HOST."
        )
    return BackendError(f"The Docker engine failed: {error}")


class DockerBackend(SocketDirs, Backend):
    name = "docker"
    uses_images = True

    def __init__(
        self,
        settings: DockerSettings,
        runtime_dir: Path,
        client: docker.DockerClient | None = None,
    ) -> None:
        if os.geteuid() not in (0, settings.uid):
            raise ConfigError(
                f"With the docker backend the sidecar runs as root or as the notebook uid "
                f"(NEXTPYTER_DOCKER_UID={settings.uid}), so that it can prepare each user's "
                f"socket directory for that uid; it runs as uid {os.geteuid()}."
            )
        self.settings = settings
        self.root = runtime_dir / "docker"
        # servers/<slug>/: mounted into that user's container (the notebook may write it);
        # sockets/<slug>.sock: our hard link to its server's socket, what the gateway uses.
        self.servers_dir = self.root / "servers"
        self.sockets_dir = self.root / "sockets"
        self.share_dir = self.root / "share"
        self.servers_dir.mkdir(parents=True, exist_ok=True)
        self.sockets_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # noqa: S103 - holds no secret; containers mount share/
        os.chmod(self.servers_dir, 0o711)  # noqa: S103 - traverse only, no listing
        os.chmod(self.sockets_dir, 0o711)  # noqa: S103 - the gateway opens the links
        self.installation = installation_id(self.root)
        self._install_share()
        # One client for every thread: its connection pool lets launches of different users
        # talk to the engine at once (no lock around engine calls). Made at first use, so
        # that the sidecar starts (and says what is wrong) while the engine is down.
        self._client = client
        self._client_lock = threading.Lock()
        self._last_failure: BackendError | None = None
        self._retry_at = 0.0
        self._network_checked = False

    def socket_path(self, slug: str) -> Path:
        return fitting(self.sockets_dir / f"{self._dir(slug).name}.sock")

    @property
    def client(self) -> docker.DockerClient:
        if self._client is not None:
            return self._client
        # While the engine is unreachable, one caller tries (it may take the connect
        # timeout); the others get the same answer at once for a few seconds.
        with self._client_lock:
            if self._client is None:
                if time.monotonic() < self._retry_at and self._last_failure is not None:
                    raise BackendError(str(self._last_failure))
                try:
                    self._client = connect_engine()
                except EngineTooOld as error:
                    raise BackendError(str(error)) from None
                except (docker.errors.DockerException, requests.RequestException) as error:
                    self._last_failure = _engine_error(error)
                    self._retry_at = time.monotonic() + ENGINE_RETRY
                    raise BackendError(str(self._last_failure)) from None
        return self._client

    # -- files on the engine's host ----------------------------------------------------
    def _install_share(self) -> None:
        """Write NextPyter's Jupyter files (every replica writes the same bytes; each file
        is replaced whole, so a container starting meanwhile reads old or new, never half)."""
        for relative, content in share_files():
            path = self.share_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o755)  # noqa: S103 - read by the notebook uid
            with contextlib.suppress(OSError):
                if path.read_bytes() == content:
                    continue
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(content)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)

    def _prepare_dir(self, spec: ServerSpec) -> Path:
        try:
            return self._make_dir(spec)
        except OSError as error:
            raise _files_error(error) from None

    def _make_dir(self, spec: ServerSpec) -> Path:
        directory = self._dir(spec.slug)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(mode=0o711)
        os.chmod(directory, 0o711)  # noqa: S103 - the gateway traverses it to the socket
        secret = directory / SECRET_FILE
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(spec.secret)
        if os.geteuid() == 0:
            os.chown(secret, self.settings.uid, self.settings.gid)
            os.chown(directory, self.settings.uid, self.settings.gid)
        return directory

    # -- the engine ----------------------------------------------------------------------
    def _container(self, slug: str) -> Container | None:
        """The slug's container, or None; one that NextPyter did not make is refused."""
        try:
            with _engine():
                container = self.client.containers.get(container_name(slug))
        except docker.errors.NotFound:
            return None
        if container.labels.get(LABEL + "installation") != self.installation:
            raise BackendError(
                f"A container named {container_name(slug)} exists on the Docker engine but "
                "was not started by this NextPyter installation; ask your administrator to "
                "remove it (one engine serves one NextPyter installation)."
            )
        return container

    def _ensure_network(self) -> None:
        """Create the users' network on first use; refuse one that lets containers talk to
        each other."""
        if not self.settings.outbound or self._network_checked:
            return
        name = self.settings.network
        with _engine():
            # By name, exactly (the engine's filter matches parts of names too).
            found = [n for n in self.client.networks.list(names=[name]) if n.name == name]
            if not found:
                try:
                    found = [
                        self.client.networks.create(
                            name,
                            driver="bridge",
                            options={
                                "com.docker.network.bridge.enable_icc": "false",
                                # The name the egress rules (egress.py) match on.
                                "com.docker.network.bridge.name": USERS_BRIDGE,
                            },
                            labels={LABEL + "installation": self.installation},
                            check_duplicate=True,  # engines before API 1.44 allow twins
                        )
                    ]
                except docker.errors.APIError:  # another replica made it meanwhile
                    found = [n for n in self.client.networks.list(names=[name]) if n.name == name]
            for network in found:
                network.reload()
        if len(found) != 1:
            raise BackendError(
                f"The Docker engine has {len(found)} networks named {name!r}; ask your "
                "administrator to remove the extra ones (docker network ls)."
            )
        options = found[0].attrs.get("Options") or {}
        if options.get("com.docker.network.bridge.enable_icc") != "false":
            raise BackendError(
                f"The Docker network {name!r} lets containers reach each other, so NextPyter "
                "will not put notebooks on it. Ask your administrator to remove it (NextPyter "
                "creates it properly) or to set NEXTPYTER_DOCKER_NETWORK to another name."
            )
        if options.get("com.docker.network.bridge.name") != USERS_BRIDGE:
            raise BackendError(
                f"The Docker network {name!r} is not on the bridge {USERS_BRIDGE!r} that "
                "NextPyter's egress rules guard, so NextPyter will not put notebooks on it. "
                "Ask your administrator to remove it (NextPyter creates it properly)."
            )
        self._network_checked = True

    def _server(self, container: Container) -> Server:
        labels = container.labels
        slug = labels[LABEL + "slug"]
        ready = (
            container.status == "running"
            and self._ours(slug, container)
            and self.socket_path(slug).exists()
        )
        try:
            created = float(labels.get(LABEL + "created", "0"))
        except ValueError:
            created = 0.0
        return Server(
            user_id=labels.get(LABEL + "user", ""),
            slug=labels[LABEL + "slug"],
            profile=labels.get(LABEL + "profile", ""),
            state="running" if ready else "starting",
            created=created,
            detail=labels.get(LABEL + "image", ""),
            gpus=tuple(g for g in labels.get(LABEL + "gpus", "").split(",") if g),
        )

    def _remove(self, container: Container) -> None:
        """Remove a container and wait until the engine has let go of its name."""
        deadline = time.monotonic() + 30
        with _engine():
            while True:
                try:
                    container.remove(force=True)
                    return
                except docker.errors.NotFound:
                    return
                except docker.errors.APIError as error:
                    if error.status_code != 409 or time.monotonic() > deadline:
                        raise
                time.sleep(0.1)  # "removal already in progress": another caller's; wait

    def _forget(self, slug: str) -> None:
        """The user's files on the engine's host: socket directory, link and its record."""
        self.socket_path(slug).unlink(missing_ok=True)
        self._record(slug).unlink(missing_ok=True)
        shutil.rmtree(self._dir(slug), ignore_errors=True)

    def _record(self, slug: str) -> Path:
        """Which start of which container the socket link belongs to."""
        return self.sockets_dir / f"{self._dir(slug).name}.started"

    @staticmethod
    def _start_of(container: Container) -> str:
        return f"{container.id} {container.attrs.get('State', {}).get('StartedAt', '')}"

    def _ours(self, slug: str, container: Container) -> bool:
        """Whether ``container`` runs as start() started it: a container restarted by hand
        (docker restart) has lost its one-time secret and its socket link, and is replaced
        at the next launch."""
        try:
            return self._record(slug).read_text() == self._start_of(container)
        except OSError:
            return False

    def _note_start(self, slug: str, container: Container) -> None:
        record = self._record(slug)
        try:
            record.with_suffix(".tmp").write_text(self._start_of(container))
            os.replace(record.with_suffix(".tmp"), record)
        except OSError as error:
            raise _files_error(error) from None

    def _link_socket(self, slug: str) -> bool:
        """Take the server's socket over: hard-link the socket the server bound in its own
        (container-writable) directory into ours, where the gateway and the sidecar connect.
        The link names the socket's inode, so nothing the notebook later does to its
        directory (replace the socket by a symlink to another socket of the host, say)
        changes where the gateway goes. False while the server has not bound it yet."""
        link = self.socket_path(slug)
        tmp = link.with_name(f".{slug}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            try:
                os.link(self._dir(slug) / SOCKET, tmp, follow_symlinks=False)
            except FileNotFoundError:
                return False
            try:
                if not stat.S_ISSOCK(os.lstat(tmp).st_mode):
                    raise BackendError(
                        "The Jupyter server's socket was replaced by something else; the "
                        "server is not used. Open the notebook again; if it keeps happening, "
                        "show this message to your administrator."
                    )
                os.replace(tmp, link)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as error:
            raise _files_error(error) from None
        return True

    # -- the interface -----------------------------------------------------------------
    def status(self, slug: str) -> Server | None:
        """Read-only: what is not running is None (start() and reconcile() clean it up,
        under the user's lock)."""
        container = self._container(slug)
        if container is None or container.status != "running":
            return None  # paused (by an administrator) too: a launch resumes it
        if not self._ours(slug, container):
            return None  # restarted by hand: a launch replaces it
        return self._server(container)

    def list(self) -> list[Server]:
        with _engine():
            containers = self.client.containers.list(
                filters={"label": f"{LABEL}installation={self.installation}"},
                ignore_removed=True,  # removed between the listing and its inspection
            )
        return [self._server(c) for c in containers if is_slug(c.labels.get(LABEL + "slug", ""))]

    def has_image(self, image: str) -> bool:
        try:
            with _engine():
                self.client.images.get(image)
        except docker.errors.ImageNotFound:
            return False
        return True

    def start(self, spec: ServerSpec) -> Server:
        """Start the server; the caller holds the user's spawn lock."""
        existing = self._container(spec.slug)
        if existing is not None and existing.status == "paused":
            try:
                with _engine():
                    existing.unpause()  # paused by hand: the user's kernels live on
                    existing.reload()
            except docker.errors.NotFound:
                existing = None  # removed meanwhile: made anew below
        if existing is not None:
            if existing.status == "running" and self._ours(spec.slug, existing):
                return self._server(existing)
            # Half-created, exited, dead or restarted by hand: made again below.
            self._remove(existing)
        self._forget(spec.slug)
        # (The launch has the image pulled first; one removed since fails the create below.)
        self._ensure_network()
        directory = self._prepare_dir(spec)
        arguments = build_container_spec(
            spec, self.settings, directory, self.share_dir, self.installation, time.time()
        )
        container = None
        try:
            with _engine():
                container = self.client.containers.create(**arguments)
                container.start()
                container.reload()
            self._note_start(spec.slug, container)
        except (BackendError, docker.errors.NotFound) as error:
            if container is not None:
                with contextlib.suppress(BackendError):
                    self._remove(container)
            self._forget(spec.slug)
            if isinstance(error, BackendError):
                raise
            self._network_checked = False  # the network may be what went: look again
            raise BackendError(
                "The Docker engine no longer has something the server needs (its image or "
                f"network was removed meanwhile: {error.explanation or error}). Open the "
                "notebook again."
            ) from None
        return self._server(container)

    def wait_ready(
        self, slug: str, timeout: float, progress: Callable[[str], None] | None = None
    ) -> Server:
        container = self._container(slug)
        if container is None:
            raise BackendError("The server is not running.")

        def check() -> None:
            try:
                with _engine():
                    container.reload()
            except docker.errors.NotFound:
                raise BackendError("The server was removed while it started.") from None
            if container.status not in {"running", "created"}:
                raise BackendError(
                    f"The Jupyter server stopped while starting (state {container.status}, "
                    f"exit code {container.attrs['State'].get('ExitCode')}; its log ends: "
                    f"{self._log_tail(container)}). If this keeps happening, show this "
                    "message to your administrator."
                )

        # The socket appears in the server's directory: link it into ours (once per start of
        # the container); then one request through that link must be answered.
        link = self.socket_path(slug)
        wait_answering(
            link,
            slug,
            timeout,
            check,
            STATE_CHECK_EVERY,
            bound=lambda: link.exists() or self._link_socket(slug),
        )
        check()
        return self._server(container)

    def activity(self, slug: str, secret: str) -> float | None:
        return last_activity(self.socket_path(slug), slug, secret)

    def stop(self, slug: str) -> bool:
        container = self._container(slug)
        if container is not None:
            if container.status == "running":
                # SIGTERM to the init process, which passes it on; SIGKILL after the timeout.
                with contextlib.suppress(docker.errors.NotFound, BackendError), _engine():
                    container.stop(timeout=self.settings.stop_timeout)
            self._remove(container)
        self._forget(slug)
        return container is not None

    def reconcile(self, busy: Callable[[str], bool] = lambda slug: False) -> None:
        """Adopt running containers; remove exited and dead ones, and half-created ones (a
        start that crashed between create and start); remove socket directories and links
        that no container owns. A user for whom ``busy`` says a start or stop is under way
        (their spawn lock is held) is left alone."""
        with _engine():
            containers = self.client.containers.list(
                all=True,
                filters={"label": f"{LABEL}installation={self.installation}"},
                ignore_removed=True,  # removed (by another replica) while we looked
            )
        keep = set()
        for container in containers:
            slug = container.labels.get(LABEL + "slug", "")
            ours = is_slug(slug) and self._ours(slug, container)
            if busy(slug) or (container.status in {"running", "paused"} and ours):
                keep.add(slug)
                continue
            with contextlib.suppress(BackendError):
                self._remove(container)
        now = time.time()
        leftovers = [
            *((e, e.name) for e in self.servers_dir.iterdir()),
            # <slug>.sock and <slug>.started; a .<slug>.<pid>.<thread>.tmp of a crash too
            *(
                (e, e.name.split(".")[1 if e.name.startswith(".") else 0])
                for e in self.sockets_dir.iterdir()
            ),
        ]
        for entry, slug in leftovers:
            if slug in keep or not is_slug(slug) or busy(slug):
                continue
            with contextlib.suppress(OSError):
                if now - entry.lstat().st_mtime > ORPHAN_GRACE:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink()

    # -- helpers -----------------------------------------------------------------------
    def _log_tail(self, container: Container, lines: int = 5) -> str:
        try:
            text = container.logs(tail=lines).decode("utf-8", "replace")
        except (docker.errors.DockerException, requests.RequestException):
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"
