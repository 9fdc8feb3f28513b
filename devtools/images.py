"""The images the tests, the demo and the benchmarks run, built in the development engine from
a ``debootstrap`` base and pip wheels (no registry is reachable here), cached by a digest of
their recipe so that each is built once per machine.

:func:`jupyter_image` is the notebook image: a Debian base made with ``debootstrap`` (which
reaches Debian's mirror), ``docker import``-ed, then a build step that installs
jupyter_server, JupyterLab and ipykernel from wheels pip downloaded for the image's own
Python. A changed recipe builds anew; an unchanged one is reused."""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from . import services as devstack
from .services import CACHE, DevDockerError

SUITE = "bookworm"  # its python3 is 3.11, the version the wheels are downloaded for

PYTHON_VERSION = "3.11"

PYTHON_FULL_VERSION = "3.11.2"  # bookworm's: what markers like python_full_version see

MIRROR = os.environ.get("NEXTPYTER_DEBIAN_MIRROR", "http://deb.debian.org/debian")

BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")

# The compose test's stand-ins for the official images no registry here can give (docker:dind,
# redis, nginx): one Debian with Docker's engine, Redis and nginx besides Python.
STACK_PACKAGES = (
    *BASE_PACKAGES,
    *("docker.io", "iptables", "openssl", "procps", "curl"),
    *("nginx-light", "gettext-base", "redis-server"),
)

JUPYTER_REQUIREMENTS = ("jupyter_server>=2.14,<3", "jupyterlab>=4.2,<5", "ipykernel>=6.29")

BASE_REPOSITORY = "nextpyter-dev/debian"

JUPYTER_REPOSITORY = "nextpyter-dev/jupyter"

COMPOSE_REPOSITORY = "nextpyter-dev/compose"

# The image: Jupyter in a venv, its bytecode compiled by pip (the root file system is
# read-only at run time, so Python could not cache bytecode later), a home whose work
# folder the user's files are mounted on, and no root at run time.
JUPYTER_DOCKERFILE = """\
FROM {base} AS build
COPY wheels /wheels
RUN python3 -m venv /opt/jupyter \\
 && /opt/jupyter/bin/pip install --no-index --no-cache-dir --find-links /wheels {requirements}

FROM {base}
COPY --from=build /opt/jupyter /opt/jupyter
ENV PATH=/opt/jupyter/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8 HOME=/home/jovyan
RUN mkdir -p /home/jovyan/work /run/nextpyter /opt/nextpyter
WORKDIR /home/jovyan/work
USER 33:33
CMD ["jupyter", "lab"]
"""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _has_image(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def base_image(
    client: docker.DockerClient, cache: Path = CACHE, packages: tuple[str, ...] = BASE_PACKAGES
) -> str:
    """A minimal Debian with Python (and ``packages``), from debootstrap, imported into the
    engine."""
    tag = f"{BASE_REPOSITORY}:{SUITE}-{_digest(SUITE, MIRROR, *packages, 'minbase-v1')}"
    if _has_image(client, tag):
        return tag
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise DevDockerError("debootstrap is not installed (run `make deps` as root)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="rootfs-") as tmp:
        root = Path(tmp) / "root"
        run = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(packages)}",
                SUITE,
                str(root),
                MIRROR,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            raise DevDockerError(f"debootstrap failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
        # What a container does not need, and would only make the image bigger.
        for junk in (
            "var/cache/apt/archives",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
        ):
            shutil.rmtree(root / junk, ignore_errors=True)
        # nginx's own welcome site (port 80); the gateway brings its configuration.
        (root / "etc/nginx/sites-enabled/default").unlink(missing_ok=True)
        archive = Path(tmp) / "rootfs.tar"
        subprocess.run(
            ["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."], check=True
        )
        repository, _, version = tag.partition(":")
        client.api.import_image_from_file(str(archive), repository=repository, tag=version)
    return tag


def download_wheels(target: Path, requirements: tuple[str, ...] = JUPYTER_REQUIREMENTS) -> None:
    """Wheels of ``requirements`` and everything they need, for the image: CPython 3.11 on
    glibc 2.36 (bookworm), this machine's architecture."""
    arch = platform.machine()
    target.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            f"--python-version={PYTHON_FULL_VERSION}",
            # Wheels bookworm's glibc (2.36) can load, whatever this machine's is.
            *(f"--platform=manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)),
            f"--platform=manylinux2014_{arch}",
            f"--platform=manylinux2010_{arch}",
            f"--platform=manylinux1_{arch}",
            "--implementation=cp",
            f"--abi=cp{PYTHON_VERSION.replace('.', '')}",
            "--dest",
            str(target),
            *requirements,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise DevDockerError(f"pip download failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")


def _wheelhouse(cache: Path, requirements: tuple[str, ...], key: str) -> Path:
    """The wheels of ``requirements`` in the cache, downloaded once (``key`` is part of the
    folder's name, so the Jupyter image's folder made before this helper is still found)."""
    wheels = cache / f"wheels-{_digest(*requirements, key, 'glibc-2.36')}"
    if not (wheels / ".complete").exists():
        shutil.rmtree(wheels, ignore_errors=True)
        download_wheels(wheels, requirements)
        (wheels / ".complete").touch()
    return wheels


def _build(
    client: docker.DockerClient,
    tag: str,
    files: Sequence[tuple[str, Path | bytes]],
    what: str,
    **options: Any,
) -> None:
    """Build ``tag`` from a context of ``files`` (name in the context, path or content)."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, source in files:
            if isinstance(source, Path):
                info = tar.gettarinfo(str(source), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(source, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(source)
                tar.addfile(info, io.BytesIO(source))
    context.seek(0)
    try:
        client.images.build(
            fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, pull=False,
            **options,
        )  # fmt: skip
    except docker.errors.BuildError as error:
        lines = [str(item.get("stream", item.get("error", ""))) for item in error.build_log]
        raise DevDockerError(f"building {what} failed:\n" + "".join(lines)[-3000:]) from None


def jupyter_image(client: docker.DockerClient, cache: Path = CACHE) -> str:
    """The notebook image (built once per recipe; later calls return its tag at once)."""
    base = base_image(client, cache)
    requirements = " ".join(f"'{r}'" for r in JUPYTER_REQUIREMENTS)
    dockerfile = JUPYTER_DOCKERFILE.format(base=base, requirements=requirements)
    tag = f"{JUPYTER_REPOSITORY}:{_digest(base, dockerfile)}"
    if _has_image(client, tag):
        return tag
    wheels = _wheelhouse(cache, JUPYTER_REQUIREMENTS, PYTHON_VERSION)
    files: list[tuple[str, Path | bytes]] = [("Dockerfile", dockerfile.encode())]
    files += [(f"wheels/{wheel.name}", wheel) for wheel in sorted(wheels.glob("*.whl"))]
    _build(client, tag, files, "the Jupyter image")
    return tag


# -- the compose deployment's images ----------------------------------------------------
def _tree(root: Path, *folders: str) -> list[tuple[str, Path]]:
    """The files under ``root/folder`` (no bytecode), named relative to ``root``."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.append((str(path.relative_to(root)), path))
    return found


def _content_digest(files: list[tuple[str, Path]], *extra: str) -> str:
    digest = hashlib.sha256("\0".join(extra).encode())
    for name, path in files:
        digest.update(f"\0{name}\0{path.stat().st_mode & 0o111}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def compose_images(client: docker.DockerClient, cache: Path = CACHE) -> dict[str, str]:
    """The images compose/docker-compose.yml runs, built here from local bases, as tags:

    - ``stack``: Debian with dockerd, Redis and nginx, standing in for the official
      ``docker:dind``, ``redis`` and ``nginx`` images (no registry here can give them);
    - ``engine``: compose/engine/Dockerfile on ``stack`` (the real dockerd, in a container);
    - ``sidecar`` and ``pagletto``: compose/Dockerfile's two targets on the Python base,
      from wheels pip downloaded here (the build itself has no network).
    """
    stack = base_image(client, cache, STACK_PACKAGES)
    python = base_image(client, cache)
    images = {"stack": stack}
    engine_files = _tree(devstack.REPO / "compose" / "engine", ".")
    images["engine"] = f"{COMPOSE_REPOSITORY}/engine:{_content_digest(engine_files, stack)}"
    if not _has_image(client, images["engine"]):
        _build(client, images["engine"], engine_files, "the engine image",
               buildargs={"BASE": stack})  # fmt: skip
    pyproject = tomllib.loads((devstack.REPO / "pyproject.toml").read_text())
    requirements = (
        *pyproject["project"]["dependencies"],
        *pyproject["build-system"]["requires"],
        # redis needs it on Python before 3.11.3 (bookworm's is 3.11.2), but pip download
        # judges that marker by this machine's Python, whatever --python-version says.
        "async-timeout>=4.0.3",
    )
    wheels = _wheelhouse(cache, requirements, PYTHON_FULL_VERSION)
    files = [
        *_tree(devstack.REPO, "nextpyter"),
        *[(name, devstack.REPO / name) for name in ("pyproject.toml", "README.md")],
        ("compose/Dockerfile", devstack.REPO / "compose" / "Dockerfile"),
        *[(f"compose/wheels/{wheel.name}", wheel) for wheel in sorted(wheels.glob("*.whl"))],
    ]
    version = _content_digest(files, python)
    for target in ("sidecar", "pagletto"):
        images[target] = f"{COMPOSE_REPOSITORY}/{target}:{version}"
        if not _has_image(client, images[target]):
            _build(client, images[target], files, f"the {target} image",
                   dockerfile="compose/Dockerfile", target=target,
                   buildargs={"BASE": python, "PIP_NO_INDEX": "1"})  # fmt: skip
    return images
