"""What a user's container looks like: every argument of ``containers.create``, decided
by one pure function (:func:`build_container_spec`, no I/O, tested as a whole), and the
files of NextPyter's that every container mounts read-only (:func:`share_files`).

The names and labels here are how the engine records what runs (docker.py reads them
back): containers are named ``nextpyter-<slug>`` and carry ``org.nextpyter.*`` labels.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from docker.types import DeviceRequest, LogConfig, Mount

from ... import jupyter
from ...jupyter.upstream import SECRET_FILE_ENV, USER_ENV
from ..config import DockerSettings
from .base import ServerSpec
from .sockets import SECRET_FILE, SOCKET

LABEL = "org.nextpyter."
NAME_PREFIX = "nextpyter-"
# Inside a container: the user's socket directory, and NextPyter's Jupyter files (read-only).
RUN_MOUNT = "/run/nextpyter"
SHARE_MOUNT = "/opt/nextpyter"


def container_name(slug: str) -> str:
    return NAME_PREFIX + slug


def installation_id(runtime_dir: Path) -> str:
    """Which NextPyter installation a container belongs to (two may share an engine)."""
    return hashlib.sha256(str(runtime_dir.resolve()).encode()).hexdigest()[:12]


def build_container_spec(
    spec: ServerSpec,
    settings: DockerSettings,
    run_dir: Path,
    share_dir: Path,
    installation: str,
    created: float,
) -> dict[str, Any]:
    """Every argument of ``containers.create`` for ``spec``'s server: a pure function (no
    I/O), tested as a whole. ``run_dir`` is the user's socket directory on the engine's
    host, ``share_dir`` the directory with NextPyter's Jupyter configuration."""
    home = posixpath.dirname(settings.workdir)
    uid, gid = settings.uid, settings.gid
    environment = {
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": SHARE_MOUNT,
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",  # noqa: S108 - the container's own tmpfs
        SECRET_FILE_ENV: f"{RUN_MOUNT}/{SECRET_FILE}",
        USER_ENV: spec.user_id,
    }
    command = [
        "jupyter", "server",
        f"--config={SHARE_MOUNT}/{jupyter.CONFIG_FILE}",
        f"--ServerApp.sock={RUN_MOUNT}/{SOCKET}",
        # The directory (0711) is what guards the socket; any local client still needs the
        # gateway's secret (see nextpyter/jupyter/identity.py).
        "--ServerApp.sock_mode=0666",
        f"--ServerApp.base_url={spec.base_url}",
        f"--ServerApp.root_dir={settings.workdir}",
    ]  # fmt: skip
    arguments: dict[str, Any] = {
        "image": spec.image,
        "command": command,
        "name": container_name(spec.slug),
        "hostname": "notebook",
        "labels": {
            LABEL + "installation": installation,
            LABEL + "user": spec.user_id,
            LABEL + "slug": spec.slug,
            LABEL + "profile": spec.profile,
            LABEL + "image": spec.image,
            LABEL + "created": f"{created:.3f}",
        },
        "environment": environment,
        "user": f"{uid}:{gid}",
        "working_dir": settings.workdir,
        "detach": True,
        "init": True,
        # Least privilege: no capabilities, no setuid gains, nothing written outside the
        # user's files but size-limited scratch space.
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "read_only": True,
        "tmpfs": {
            "/tmp": f"size={settings.scratch_size},mode=1777",  # noqa: S108 - its own tmpfs
            home: f"size={settings.scratch_size},uid={uid},gid={gid},mode=0700",
        },
        "mounts": [
            Mount(settings.workdir, str(spec.files_dir), type="bind", propagation="rprivate"),
            Mount(RUN_MOUNT, str(run_dir), type="bind", propagation="rprivate"),
            Mount(SHARE_MOUNT, str(share_dir), type="bind", read_only=True),
        ],
        "ipc_mode": "private",
        "mem_limit": spec.memory,
        "memswap_limit": spec.memory,  # no swap beyond the memory limit
        "nano_cpus": round(spec.cpu * 1e9),
        "pids_limit": spec.pids,
        "network_mode": settings.network if settings.outbound else "none",
        "log_config": LogConfig(type="json-file", config={"max-size": "1m", "max-file": "2"}),
    }
    if spec.gpu_ids:
        # The devices the sidecar assigned (gpus.py); the label is how a restarted sidecar
        # rebuilds the assignment from the engine.
        arguments["labels"][LABEL + "gpus"] = ",".join(spec.gpu_ids)
        arguments["device_requests"] = [
            DeviceRequest(device_ids=list(spec.gpu_ids), capabilities=[["gpu"]])
        ]
    elif spec.gpu:  # no inventory (NEXTPYTER_GPUS unset): the engine picks, nothing kept
        arguments["device_requests"] = [DeviceRequest(count=spec.gpu, capabilities=[["gpu"]])]
    return arguments


def share_files() -> Iterator[tuple[str, bytes]]:
    """(relative path, content) of what containers need from NextPyter: the package
    ``nextpyter.jupyter`` as it is (the Jupyter config, JupyterLab's setting defaults and
    the identity provider), under the same module name as on the local backend."""
    yield "nextpyter/__init__.py", b""
    package = resources.files(jupyter)
    for entry in package.iterdir():
        if entry.name.endswith(".py"):
            yield f"nextpyter/jupyter/{entry.name}", entry.read_bytes()
    for entry in package.joinpath("lab_settings").iterdir():
        if entry.name.endswith(".json"):
            yield f"nextpyter/jupyter/lab_settings/{entry.name}", entry.read_bytes()
