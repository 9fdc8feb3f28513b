"""A Docker engine and a Jupyter image on this machine, for the tests, the demo and the
benchmarks, with no container registry in reach.

- :func:`start_engine` runs Debian's ``dockerd`` as a private instance: its own data
  root (kept between runs, so images are built once per machine), exec root, pid file
  and unix socket, and ``--iptables=false --ip-forward=false --ip-masq=false
  --bridge=none`` so the machine's firewall and network stay as they are.
- :func:`jupyter_image` builds the notebook image without any registry: a Debian base
  made with ``debootstrap`` (which reaches Debian's mirror), ``docker import``-ed, then
  a build step that installs jupyter_server, JupyterLab and ipykernel from wheels pip
  downloaded for the image's own Python. Each image is tagged with a hash of its inputs,
  so a changed recipe builds anew and an unchanged one is reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import ipaddress
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors

from nextpyter.sidecar.runtime import egress

from . import services as devstack
from .services import terminate

REGISTRY_RANGE = "10.213.0.0/16"
CACHE = Path(os.environ.get("NEXTPYTER_DEV_CACHE", "/var/cache/nextpyter-dev"))
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


class DevDockerError(RuntimeError):
    pass


@dataclass
class Engine:
    """A private ``dockerd`` started by us; stopped by its pid."""

    socket: Path
    process: subprocess.Popen[bytes]
    log: Path
    exec_root: Path
    lock: IO[str] | None = None
    tls_url: str = ""  # tcp://127.0.0.1:<port> when started with TLS
    cert_path: Path | None = None  # the client's ca.pem, cert.pem, key.pem
    netns: NetNS | None = None  # the engine's own network namespace (isolated engines)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, timeout: int = 120) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, version="auto", timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        terminate(self.process, timeout)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        if self.netns is not None:
            self.netns.remove()
            self.netns = None
        if self.lock is not None:
            self.lock.close()  # frees the data root for the next engine
            self.lock = None

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def _stop_stale(pidfile: Path, data_root: Path) -> None:
    """A dockerd of ours left running on this data root (a run killed before it could stop
    it) would keep a new one from starting; stop it, but only if it is that one."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if not cmdline or not cmdline[0].endswith(b"dockerd") or str(data_root).encode() not in cmdline:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def make_certificates(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate authority, a server certificate for ``host`` and a client certificate,
    as Docker's TLS mode wants them: returns (server dir, client dir), each with
    ``ca.pem``, ``cert.pem`` and ``key.pem`` (the client dir is a ``DOCKER_CERT_PATH``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("NextPyter test engine CA"))
        .issuer_name(name("NextPyter test engine CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(common: str, usage: x509.ObjectIdentifier, san: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    parts = {
        "server": issue(host, ExtendedKeyUsageOID.SERVER_AUTH, True),
        "client": issue("nextpyter-sidecar", ExtendedKeyUsageOID.CLIENT_AUTH, False),
    }
    for kind, (cert, key) in parts.items():
        folder = directory / kind
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        (folder / "ca.pem").write_bytes(ca_pem)
        (folder / "cert.pem").write_bytes(cert)
        fd = os.open(folder / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
    return directory / "server", directory / "client"


@dataclass
class NetNS:
    """A network namespace of ours for an engine, joined to this machine by a veth pair:
    ``host_ip`` (this machine's end, a private address, like a deployment's internal
    network), ``ns_ip`` (the engine's host), and ``public_ip``, a documentation address
    (TEST-NET-2) on this machine's end that plays "the internet"."""

    name: str
    host_if: str
    host_ip: str
    ns_ip: str
    public_ip: str

    @property
    def enter(self) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.name}"]

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


def _ip(*args: str) -> None:
    run = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise DevDockerError(f"ip {' '.join(args)} failed: {run.stderr.strip()}")


def make_netns(record: Path) -> NetNS:
    """A new namespace; its name goes to ``record``, so that the next run removes it if
    this one dies before it can."""
    with contextlib.suppress(OSError, ValueError):
        name, host_if = record.read_text().split()
        NetNS(name, host_if, "", "", "").remove()
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=False).stdout
    subnet = next((n for n in range(16, 250) if f"10.213.{n}." not in used), None)
    if subnet is None:
        raise DevDockerError("no free 10.213.x.0/30 subnet for the engine's namespace")
    tag = f"{os.getpid() % 10000}{subnet}"
    ns = NetNS(
        f"npd-{tag}", f"nph{tag}", f"10.213.{subnet}.1", f"10.213.{subnet}.2", "198.51.100.7"
    )
    record.write_text(f"{ns.name} {ns.host_if}\n")
    inner = f"npn{tag}"
    _ip("netns", "add", ns.name)
    try:
        _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns.name)
        _ip("addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
        _ip("addr", "add", f"{ns.public_ip}/32", "dev", ns.host_if)
        _ip("link", "set", ns.host_if, "up")
        _ip("-n", ns.name, "link", "set", "lo", "up")
        _ip("-n", ns.name, "addr", "add", f"{ns.ns_ip}/30", "dev", inner)
        _ip("-n", ns.name, "link", "set", inner, "up")
        _ip("-n", ns.name, "route", "add", "default", "via", ns.host_ip)
    except DevDockerError:
        ns.remove()
        raise
    return ns


def _take(lock: IO[str], data_root: Path, wait: float = 1800) -> None:
    """The data root's lock: at once, or after saying who waits for what."""
    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not said:
                print(
                    f"waiting for the Docker engine on {data_root}: another run (tests, a "
                    "benchmark or make demo-docker) uses it; stop that one to go on",
                    file=sys.stderr,
                    flush=True,
                )
                said = True
            if time.monotonic() > deadline:
                lock.close()
                raise DevDockerError(f"the Docker engine on {data_root} stayed busy") from None
            time.sleep(0.5)


def start_engine(
    data_root: Path | None = None,
    extra_options: list[str] | None = None,
    timeout: float = 60,
    tls_port: int | None = None,
    isolated: bool = False,
) -> Engine:
    """Start a private dockerd (as root); its data root outlives it, so images stay.

    With ``tls_port`` it also listens on ``tls_port`` with TLS, requiring client
    certificates (``engine.tls_url`` and ``engine.cert_path``), as Docker-in-Docker does.

    ``isolated``: the engine runs in a network namespace of its own (``engine.netns``)
    with its firewall rules on, as an engine's host would (Docker-in-Docker): networks
    with inter-container traffic off are enforced, and NextPyter's egress rules
    (runtime/egress.py) are applied. Without it, the engine shares this machine's network
    and leaves its firewall alone (--iptables=false), so neither is enforced.
    """
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not Path(dockerd).exists():
        raise DevDockerError("dockerd is not installed (Debian's docker.io; run `make deps`)")
    if os.geteuid() != 0:
        raise DevDockerError("a private dockerd needs root")
    data_root = data_root or CACHE / "docker"
    data_root.mkdir(parents=True, exist_ok=True)
    # One engine per data root at a time (the tests and a benchmark take turns): the lock
    # is held until the engine stops, or freed by the kernel if its holder dies.
    lock = open(data_root.parent / f"{data_root.name}.lock", "w")  # noqa: SIM115 - held
    _take(lock, data_root)
    pidfile = data_root.parent / f"{data_root.name}.pid"
    _stop_stale(pidfile, data_root)  # only ours can be there, and its owner is gone
    # A short path: containerd's sockets live under the exec root, and a unix socket's
    # path may not exceed 107 bytes.
    exec_root = Path(
        tempfile.mkdtemp(prefix="npd-", dir="/run" if os.access("/run", os.W_OK) else None)
    )
    socket = exec_root / "docker.sock"
    log = data_root.parent / f"{data_root.name}.log"
    options = list(extra_options or [])
    netns = make_netns(data_root.parent / f"{data_root.name}.netns") if isolated else None
    prefix = netns.enter if netns else []
    address = netns.ns_ip if netns else "127.0.0.1"
    if netns:
        options += ["--iptables=true", "--ip-forward=true", "--ip-masq=true"]
        # This machine's ends of the engines' namespaces, where a test registry serves
        # plain HTTP (as a registry on a deployment's internal network might).
        options += [f"--insecure-registry={REGISTRY_RANGE}"]
    else:
        options += ["--iptables=false", "--ip-forward=false", "--ip-masq=false"]
    cert_path = None
    if tls_port:
        server, cert_path = make_certificates(exec_root / "tls", host=address)
        options += [
            f"--host=tcp://{address}:{tls_port}",
            "--tlsverify",
            f"--tlscacert={server / 'ca.pem'}",
            f"--tlscert={server / 'cert.pem'}",
            f"--tlskey={server / 'key.pem'}",
        ]
    command = [
        *prefix,
        dockerd,
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--pidfile={pidfile}",
        f"--host=unix://{socket}",
        # Its own containerd namespaces: a system Docker (which installing docker.io starts
        # on a machine with systemd) may share the system containerd with it.
        "--containerd-namespace=nextpyter-dev",
        "--containerd-plugins-namespace=nextpyter-dev-plugins",
        "--bridge=none",
        "--ip6tables=false",
        *options,
    ]
    with open(log, "ab") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    engine = Engine(socket, process, log, exec_root, lock, netns=netns)
    if tls_port and cert_path:
        engine.tls_url, engine.cert_path = f"tcp://{address}:{tls_port}", cert_path
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            engine.stop()
            raise DevDockerError(f"dockerd exited at start:\n{engine.log_tail()}")
        if socket.exists():
            with contextlib.suppress(Exception):
                client = engine.client(timeout=5)
                try:
                    if client.ping():
                        if netns:
                            egress.apply(prefix=netns.enter)
                        return engine
                finally:
                    client.close()
        time.sleep(0.05)
    engine.stop()
    raise DevDockerError(f"dockerd did not answer within {timeout} s:\n{engine.log_tail()}")


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


# -- a registry ------------------------------------------------------------------------
@dataclass
class Registry:
    """Debian's ``docker-registry`` (the CNCF distribution registry) started by us."""

    service: devstack.Service
    address: str  # host:port, as image references name it
    config: Path
    access_log: Path

    def requests(self, method: str, path: str) -> int:
        """How many ``method`` requests for paths starting with ``path`` it answered."""
        needle = f'"{method} {path}'
        try:
            lines = self.access_log.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        return sum(1 for line in lines if needle in line)

    def stop(self) -> None:
        self.service.stop()

    def collect_garbage(self) -> None:
        """Delete the blobs no manifest refers to any more (the registry's own tool; run
        it while the registry is stopped)."""
        subprocess.run(
            [_registry_binary(), "garbage-collect", "--delete-untagged", str(self.config)],
            capture_output=True,
            check=False,
        )


def _registry_binary() -> str:
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).exists():
        raise DevDockerError("docker-registry is not installed (Debian's docker-registry)")
    return binary


def start_registry(
    workdir: Path,
    host: str,
    storage: Path,
    htpasswd: Path | None = None,
    port: int | None = None,
) -> Registry:
    """A registry on ``host`` (plain HTTP), storing in ``storage``; with ``htpasswd`` it
    wants basic-auth credentials. Its access log counts the requests it answered."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or devstack.free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"{host}:{port}", "secret": os.urandom(16).hex()},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "nextpyter-test", "path": str(htpasswd)}}
    path = workdir / f"registry-{port}.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    log = workdir / f"registry-{port}.log"
    service = devstack.spawn("docker-registry", [_registry_binary(), "serve", str(path)], log)
    registry = Registry(service, f"{host}:{port}", path, log)

    def ready() -> bool:
        with urllib.request.urlopen(f"http://{registry.address}/", timeout=2) as answer:
            return bool(answer.status == 200)

    devstack.wait_ready("docker-registry", ready, service, 30)
    return registry


def push(client: docker.DockerClient, source: str, target: str) -> None:
    """Tag ``source`` as ``target`` (registry/repository:tag) and push it there."""
    repository, _, tag = target.rpartition(":")
    client.images.get(source).tag(repository, tag)
    for message in client.api.push(repository, tag=tag, stream=True, decode=True):
        if message.get("error"):
            raise DevDockerError(f"pushing {target} failed: {message['error']}")


def pushed_image(
    client: docker.DockerClient, base: str, target: str, megabytes: int
) -> tuple[str, int]:
    """An image of its own in the registry and not on the engine: ``base`` plus a layer of
    ``megabytes`` of random (incompressible) bytes, pushed as ``target`` and removed from
    the engine, so that pulling it downloads that layer for real. Returns the reference
    and the layer's size."""
    payload = os.urandom(megabytes * 1_000_000)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (
            ("Dockerfile", f"FROM {base}\nCOPY payload /opt/payload\n".encode()),
            ("payload", payload),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = client.images.build(
        fileobj=context, custom_context=True, rm=True, forcerm=True, pull=False
    )
    push(client, image.id, target)
    client.images.remove(image.id, force=True)
    return target, len(payload)


@contextlib.contextmanager
def throttled(netns: NetNS, rate: str = "40mbit") -> Iterator[None]:
    """Traffic from this machine to the engine's namespace (a registry's downloads) at
    ``rate`` (the kernel's token bucket filter on our end of the veth)."""
    subprocess.run(
        [
            "tc",
            "qdisc",
            "replace",
            "dev",
            netns.host_if,
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            "64kb",
            "latency",
            "500ms",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield
    finally:
        subprocess.run(
            ["tc", "qdisc", "del", "dev", netns.host_if, "root"], check=False, capture_output=True
        )
