"""The compose deployment (compose/): its files, and the stack itself under Debian's
``docker-compose`` on the tests' Docker engine.

No Nextcloud or database image can be pulled here, so the slow test starts the stack minus
those two: Redis, the engine (the real ``dockerd`` in a container built from the local
Debian base, reached over TLS with the certificates it made at its first start), two
sidecars, pagletto and the gateway. A launch token signed by the app's PHP code goes
through the gateway; pagletto pulls the notebook image into the engine from a registry;
the notebook runs inside the engine, on the user's files in Nextcloud's data volume. Then
``docker-compose down`` must leave no container and no network behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
import yaml

from devtools import services as devstack
from devtools.engine import REGISTRY_RANGE
from devtools.images import compose_images
from devtools.registry import push, start_registry
from devtools.services import CACHE
from nextpyter.common.settings import RENAMED
from nextpyter.sidecar.runtime import egress
from nextpyter.sidecar.slugs import slug_for
from tests.support.need import require, require_root
from tests.support.php import ISSUER, PhpApp
from tests.support.stack import launch_events, wait_until

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
FILES = (COMPOSE / "docker-compose.yml", COMPOSE / "engine-unprivileged.yml")
# The tests read the example's settings (its defaults), never a developer's compose/.env.
EXAMPLE = COMPOSE / ".env.example"
DATA = "/var/www/html/data"
RUNTIME = "/run/nextpyter"
USER = "alice"
NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def compose_config(*files: Path, **env: str) -> dict[str, Any]:
    """The model docker-compose makes of ``files`` (validated against the Compose schema,
    variables interpolated with their defaults, or ``env``'s values)."""
    compose = require("docker-compose")
    command = [compose, "--env-file", str(EXAMPLE), "--project-directory", str(COMPOSE)]
    for file in files:
        command += ["-f", str(file)]
    done = subprocess.run(
        [*command, "config"], capture_output=True, text=True, timeout=60, env=clean_env(**env)
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any compose or NextPyter setting of its own."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NEXTPYTER_", "NEXTCLOUD_"))}
    keep = {k: v for k, v in keep.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    return {**keep, **extra}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target → source of a service's volumes (docker-compose config lists them in the short
    syntax, source:target[:mode], or the long one)."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *_ = volume.split(":")
            found[target] = source
        else:
            found[volume["target"]] = str(volume.get("source", ""))
    return found


def published(service: dict[str, Any]) -> str:
    """The host port of a service's first published port."""
    port = service["ports"][0]
    return str(port.split(":")[-2] if isinstance(port, str) else port["published"])


# -- the files ---------------------------------------------------------------------------
def test_the_compose_file_is_valid_and_wires_the_system_as_designed() -> None:
    config = compose_config(FILES[0])
    services = config["services"]
    assert set(services) == {
        *("secrets", "nextcloud", "cron", "db", "redis", "engine", "sidecar", "pagletto"),
        "gateway",
    }
    # Never the host's Docker socket: the engine is Docker-in-Docker, reached over TLS.
    for name, service in services.items():
        for target, source in mounts(service).items():
            assert "docker.sock" not in target + source, name
    for name in ("sidecar", "pagletto"):
        env = services[name]["environment"]
        assert env["DOCKER_HOST"] == "tcp://engine:2376", name
        assert env["DOCKER_TLS_VERIFY"] == "1", name
        assert mounts(services[name])["/certs/client"] == "engine-client", name
        assert services[name]["read_only"] is True and services[name]["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in services[name]["security_opt"]
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert services["sidecar"]["scale"] == 2
    # The images built here are never pulled (no one else's image of that name runs).
    for name in ("secrets", "engine", "sidecar", "pagletto"):
        assert services[name]["pull_policy"] == "build", name
    for name in ("sidecar", "pagletto"):
        assert services[name]["user"] == "33:33", name
    assert services["engine"]["privileged"] is True
    # Nextcloud's data directory at one path for Nextcloud, the engine and the sidecar (so
    # a user's files mount into notebooks); the runtime directory (the servers' sockets) at
    # one path for the sidecar, the engine and the gateway.
    for name in ("nextcloud", "cron", "engine", "sidecar"):
        assert mounts(services[name])[DATA] == "nextcloud-data", name
    assert services["sidecar"]["environment"]["NEXTPYTER_DATA_DIR"] == DATA
    for name in ("engine", "sidecar", "gateway"):
        assert mounts(services[name])[RUNTIME] == "runtime", name
    assert services["sidecar"]["environment"]["NEXTPYTER_RUNTIME_DIR"] == RUNTIME
    # The gateway on an origin of its own: another port than Nextcloud's.
    assert published(services["nextcloud"]) == "8080"
    assert published(services["gateway"]) == "8081"
    # The app mounted into custom_apps/, and the hook that enables it.
    # (the built app only, as `make appstore` lays it out: no tests, sources or tools).
    assert mounts(services["nextcloud"])["/var/www/html/custom_apps/nextpyter"].endswith(
        "nextcloud_app/build/nextpyter"
    )
    hook = COMPOSE / "nextcloud/hooks/before-starting/50-nextpyter.sh"
    assert os.access(hook, os.X_OK) and "occ app:enable nextpyter" in hook.read_text()
    # Redis with append-only persistence; internal networks for Redis, the database, and
    # the engine's API.
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["networks"] == {"backend": None}
    assert config["networks"]["backend"]["internal"] is True
    assert config["networks"]["database"]["internal"] is True
    # Secrets are made at the first start, each volume mounted only where it is needed.
    holders = {
        volume: sorted(n for n, s in services.items() if volume in mounts(s).values())
        for volume in ("secrets-database", "secrets-nextcloud", "secrets-sidecar")
    }
    assert holders == {
        "secrets-database": ["db", "nextcloud", "secrets"],  # not cron: it reads config.php
        "secrets-nextcloud": ["nextcloud", "secrets"],
        "secrets-sidecar": ["secrets", "sidecar"],
    }


def test_the_unprivileged_engine_variant_is_valid() -> None:
    engine = compose_config(*FILES)["services"]["engine"]
    assert engine["privileged"] is False
    assert "ALL" in engine["cap_add"] and "seccomp=unconfined" in engine["security_opt"]


def test_every_setting_of_the_compose_file_is_in_env_example() -> None:
    text = "\n".join(path.read_text() for path in FILES)
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    example = (COMPOSE / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, re.MULTILINE))
    # (The renamed settings' old names are only looked at, to refuse them: see below.)
    assert used - documented == set(RENAMED), "used in docker-compose.yml, not in .env.example"
    assert documented - used == {"COMPOSE_PROJECT_NAME"}, "in .env.example, used nowhere"
    # Every setting there is explained by a comment right above it.
    lines = example.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^#?\s*[A-Z0-9_]+=", line):
            assert number and lines[number - 1].startswith("#"), line
    # No secret is shipped: the secrets are made at the first start.
    assert not re.search(r"(PASSWORD|SECRET)[A-Z_]*=\S", example)


def test_a_renamed_setting_in_env_stops_the_start_saying_what_to_rename() -> None:
    """compose/.env's NEXTPYTER_UID, _GID and _IMAGE became NEXTPYTER_DOCKER_*: the secrets
    service (which every other waits for) refuses the old ones, before it writes a file."""
    for old in RENAMED:
        config = compose_config(FILES[0], **{old: "1000"})
        renamed = config["services"]["secrets"]["environment"]["_NEXTPYTER_RENAMED"]
        done = subprocess.run(
            ["sh", str(COMPOSE / "init" / "secrets.sh")],
            capture_output=True,
            text=True,
            timeout=30,
            env=clean_env(_NEXTPYTER_RENAMED=renamed),
        )
        assert done.returncode == 1, (old, done.stderr)
        assert old in done.stderr and RENAMED[old] in done.stderr
        assert "secrets: made" not in done.stdout + done.stderr
    unset = compose_config(FILES[0])["services"]["secrets"]["environment"]
    assert unset["_NEXTPYTER_RENAMED"] == "//"  # what secrets.sh takes for "none set"


def test_the_engine_image_applies_the_sidecars_own_egress_rules() -> None:
    assert (COMPOSE / "engine" / "egress-rules.sh").read_text() == egress.shell()


def test_the_images_run_as_www_data_and_take_their_base_as_an_argument() -> None:
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "\nARG BASE=" in dockerfile
    assert "\nUSER 33:33\n" in dockerfile
    assert re.findall(r"^FROM \S+ AS (\S+)", dockerfile, re.MULTILINE) == [
        "build",
        "runtime",
        "pagletto",
        "sidecar",
    ]
    assert "\nARG BASE=" in (COMPOSE / "engine" / "Dockerfile").read_text()


# -- the stack ---------------------------------------------------------------------------
@dataclass
class Project:
    name: str
    command: list[str]
    env: dict[str, str]
    client: docker.DockerClient
    gateway: str

    def compose(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=timeout, env=self.env
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stderr[-4000:]}"
        return done.stdout

    def containers(self, service: str | None = None) -> list[Any]:
        labels = [f"com.docker.compose.project={self.name}"]
        if service:
            labels.append(f"com.docker.compose.service={service}")
        return list(self.client.containers.list(all=True, filters={"label": labels}))

    def one(self, service: str) -> Any:
        found = self.containers(service)
        assert found, f"no {service} container"
        return found[0]

    def run(self, service: str, *command: str, user: str = "", **env: str) -> str:
        result = self.one(service).exec_run(list(command), user=user, environment=env)
        output = result.output.decode(errors="replace")
        assert result.exit_code == 0, f"{service}: {' '.join(command)}:\n{output}"
        return str(output)

    def logs(self) -> str:
        return "\n".join(
            f"--- {c.name}\n{c.logs(tail=30).decode(errors='replace')}" for c in self.containers()
        )


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: tuple[Any, str]
) -> Iterator[tuple[Project, PhpApp]]:
    require_root("the compose test runs on the tests' own Docker engine")
    compose = require("docker-compose")
    engine, jupyter = docker_engine
    client = engine.client(timeout=600)
    workdir = tmp_path_factory.mktemp("compose")
    images = compose_images(client)
    registry = start_registry(workdir / "registry", engine.netns.host_ip, CACHE / "registry")
    notebook_image = f"{registry.address}/{jupyter}"
    push(client, jupyter, notebook_image)
    # The app's real signing path makes the key ring and the JWKS the sidecar reads (here
    # from a file: no Nextcloud serves it).
    app = PhpApp(workdir)
    app.sign()
    shared = workdir / "jwks"
    shared.mkdir()
    os.chmod(shared, 0o755)  # noqa: S103 - a public key, read by the sidecar's uid
    override = workdir / "test.yml"
    override.write_text(
        json.dumps(
            {
                "services": {
                    "sidecar": {
                        "environment": {"NEXTPYTER_JWKS": "/run/nextpyter-test/jwks.json"},
                        "volumes": [f"{shared}:/run/nextpyter-test:ro"],
                    }
                }
            }
        )
    )
    port = str(devstack.free_port())
    name = f"nextpyter-t{uuid.uuid4().hex[:8]}"
    env = clean_env(
        DOCKER_HOST=engine.url,
        NEXTPYTER_ENGINE_IMAGE=images["engine"],
        NEXTPYTER_SIDECAR_IMAGE=images["sidecar"],
        NEXTPYTER_PAGLETTO_IMAGE=images["pagletto"],
        # The local base stands in for the official redis and nginx images.
        NEXTPYTER_REDIS_IMAGE=images["stack"],
        NEXTPYTER_GATEWAY_IMAGE=images["stack"],
        # The test registry serves plain HTTP on this machine's end of the namespace.
        NEXTPYTER_ENGINE_ARGS=f"--insecure-registry={REGISTRY_RANGE}",
        NEXTPYTER_DOCKER_IMAGE=notebook_image,
        NEXTCLOUD_URL=ISSUER,
        # Published on the engine's namespace's own address, which this machine reaches.
        NEXTPYTER_GATEWAY_BIND=engine.netns.ns_ip,
        NEXTPYTER_GATEWAY_PORT=port,
    )
    command = [compose, "--env-file", str(EXAMPLE), "--project-directory", str(COMPOSE)]
    command += ["-p", name]
    for file in (*FILES, override):
        command += ["-f", str(file)]
    running = Project(name, command, env, client, f"http://{engine.netns.ns_ip}:{port}")
    try:
        (shared / "jwks.json").write_text(app.jwks_path.read_text())
        os.chmod(shared / "jwks.json", 0o644)
        started = time.monotonic()
        try:
            running.compose("up", "-d", "--no-build", "gateway", "pagletto", timeout=600)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{running.logs()}") from None
        print(f"docker-compose up (to the sidecars healthy): {time.monotonic() - started:.1f} s")
        yield running, app
    finally:
        # Whatever the test did: nothing of this project stays on the engine.
        subprocess.run(
            [*command, "down", "--volumes", "--timeout", "30"],
            capture_output=True,
            timeout=300,
            env=env,
            check=False,
        )
        registry.stop()
        client.images.remove(notebook_image)  # the tag, not the image
        client.close()


def test_the_stack_runs_a_notebook_through_the_gateway_and_down_leaves_nothing(
    project: tuple[Project, PhpApp],
) -> None:
    stack, app = project
    # The services that started, each healthy: two sidecars.
    states = {c.name: c.attrs["State"] for c in stack.containers()}
    services = sorted(c.labels["com.docker.compose.service"] for c in stack.containers())
    assert services == [
        *("engine", "gateway", "pagletto", "redis", "secrets", "sidecar", "sidecar"),
    ], states

    def health(container: Any) -> str:
        container.reload()
        state = container.attrs["State"]
        if container.labels["com.docker.compose.service"] == "secrets":
            return f"{state['Status']} {state['ExitCode']}"
        return str(state["Health"]["Status"])

    # The gateway comes last (nothing waits for it); wait for its first healthcheck.
    wait_until(lambda: health(stack.one("gateway")) != "starting", timeout=60, interval=0.5)
    assert {c.name: health(c) for c in stack.containers()} == {
        c.name: "exited 0" if c.labels["com.docker.compose.service"] == "secrets" else "healthy"
        for c in stack.containers()
    }

    # The sidecar and pagletto: www-data, no capabilities, read-only, and the engine over TLS.
    for service in ("sidecar", "pagletto"):
        attrs = stack.one(service).attrs
        assert attrs["Config"]["User"] == "33:33"
        assert attrs["HostConfig"]["ReadonlyRootfs"] is True
        assert attrs["HostConfig"]["CapDrop"] == ["ALL"]
        assert "DOCKER_HOST=tcp://engine:2376" in attrs["Config"]["Env"]
    probe = (
        "import docker, docker.tls, json\n"
        "def refused(**kw):\n"
        "    try:\n"
        "        docker.DockerClient(base_url='tcp://engine:2376', timeout=5, **kw).version()\n"
        "    except Exception as error:\n"
        "        return str(error)\n"
        "    return 'answered'\n"
        "print(json.dumps({'version': docker.from_env().version()['Version'],\n"
        "    'plain': refused(),\n"
        "    'nocert': refused(tls=docker.tls.TLSConfig(ca_cert='/certs/client/ca.pem',"
        " verify=True))}))\n"
    )
    answers = json.loads(stack.run("sidecar", "python3", "-c", probe))
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\S*", answers["version"])
    # Refused: plain HTTP, and TLS without the client certificate.
    assert "HTTP request to an HTTPS server" in answers["plain"], answers
    assert "SSLError" in answers["nocert"] and "certificate" in answers["nocert"], answers
    # The client key is the sidecar's, and the CA's key is not there at all.
    listing = stack.run("sidecar", "ls", "-ln", "/certs/client")
    assert re.search(r"-r-------- +1 +33 +33 .* key\.pem", listing), listing
    assert "ca-key" not in listing
    secret = stack.run("sidecar", "stat", "-c", "%a %u", "/run/secrets/sidecar/secret_key")
    assert secret.split() == ["400", "33"]

    # Nextcloud's part, which no image here can play: the user's folder in the data
    # volume, with a notebook in it.
    stack.run(
        "engine",
        "sh",
        "-c",
        f"install -d -o 33 -g 33 -m 0750 {DATA}/{USER} {DATA}/{USER}/files {DATA}/{USER}/files/work"
        f' && printf %s "$NB" > {DATA}/{USER}/files/work/analysis.ipynb'
        f" && chown 33:33 {DATA}/{USER}/files/work/analysis.ipynb",
        NB=json.dumps(NOTEBOOK),
    )
    token = app.sign("--user", USER, "--path", "work/analysis.ipynb")["launch"]
    started = time.monotonic()
    response = requests.post(f"{stack.gateway}/api/v1/launch", json={"token": token}, timeout=30)
    assert response.status_code == 202, response.text
    cookie = response.headers["Set-Cookie"].split(";")[0]
    launch = response.json()
    events = launch_events(f"{stack.gateway}{launch['events']}", timeout=300)
    assert events and events[-1]["state"] == "ready", (events[-3:], stack.logs())
    took = time.monotonic() - started
    # pagletto pulled the image into the engine, with byte-level progress.
    pulls = [json.loads(e["pull"]) for e in events if e["state"] == "pulling" and e.get("pull")]
    assert pulls and pulls[-1]["state"] == "done" and pulls[-1]["total"] > 10_000_000, pulls[-3:]
    # The same token again: single use, across both sidecars (Redis).
    again = requests.post(f"{stack.gateway}/api/v1/launch", json={"token": token}, timeout=30)
    assert again.status_code in (401, 403) and again.json()["title"], again.text

    slug = slug_for(USER)
    headers = {"Cookie": cookie}
    lab = requests.get(f"{stack.gateway}/user/{slug}/lab/tree/work/analysis.ipynb",
                       headers=headers, timeout=30)  # fmt: skip
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    opened = requests.get(f"{stack.gateway}/user/{slug}/api/contents/work/analysis.ipynb",
                          headers=headers, timeout=30)  # fmt: skip
    assert opened.status_code == 200 and opened.json()["content"]["nbformat"] == 4
    # A file the notebook writes lands in the user's Nextcloud folder, as www-data.
    xsrf = lab.cookies.get("_xsrf") or requests.get(
        f"{stack.gateway}/user/{slug}/lab", headers=headers, timeout=30
    ).cookies.get("_xsrf")
    assert xsrf
    saved = requests.put(
        f"{stack.gateway}/user/{slug}/api/contents/work/result.txt",
        headers={"Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf},
        json={"type": "file", "format": "text", "content": "written in the notebook"},
        timeout=30,
    )
    assert saved.status_code in (200, 201), saved.text
    written = stack.run("engine", "stat", "-c", "%u %s", f"{DATA}/{USER}/files/work/result.txt")
    assert written.split() == ["33", str(len("written in the notebook"))]
    # Without the cookie, the gateway refuses.
    assert requests.get(f"{stack.gateway}/user/{slug}/lab", timeout=30).status_code in (401, 403)

    # The notebook runs in the Docker-in-Docker engine, not on the engine compose runs on.
    inner = stack.run("engine", "docker", "ps", "--format", "{{.Names}}").split()
    assert f"nextpyter-{slug}" in inner
    assert not stack.client.containers.list(filters={"name": f"nextpyter-{slug}"})
    print(
        f"launch with a pull of {pulls[-1]['total'] / 1e6:.1f} MB,"
        f" token POST to ready: {took:.1f} s"
    )

    # The notebook reaches none of the deployment's services: not Redis, not a sidecar, not
    # the engine's API (the egress rules, applied before the engine said it was healthy).
    addresses = {
        service: next(iter(stack.one(service).attrs["NetworkSettings"]["Networks"].values()))[
            "IPAddress"
        ]
        for service in ("redis", "sidecar", "engine")
    }
    reach = (
        "import json, socket, sys\n"
        "found = {}\n"
        "for target in sys.argv[1:]:\n"
        "    host, port = target.rsplit(':', 1)\n"
        "    try:\n"
        "        socket.create_connection((host, int(port)), timeout=3).close()\n"
        "        found[target] = 'connected'\n"
        "    except OSError as error:\n"
        "        found[target] = type(error).__name__\n"
        "print(json.dumps(found))\n"
    )
    targets = [f"{addresses['redis']}:6379", f"{addresses['sidecar']}:8000"]
    targets += [f"{addresses['engine']}:2376"]
    notebook = ["docker", "exec", f"nextpyter-{slug}", "python3", "-c", reach]
    tried = json.loads(stack.run("engine", *notebook, *targets))
    assert set(tried) == set(targets)
    assert "connected" not in tried.values(), tried
    # By name it does not even find them (the deployment's names are not the notebook's).
    unnamed = stack.one("engine").exec_run(
        ["docker", "exec", f"nextpyter-{slug}", "getent", "hosts", "redis"]
    )
    assert unnamed.exit_code != 0

    # `down`: no container and no network of the project are left; the volumes (the
    # deployment's state) stay until `down --volumes`.
    stack.compose("down", "--timeout", "30")
    assert stack.containers() == []
    label = {"label": [f"com.docker.compose.project={stack.name}"]}
    assert stack.client.networks.list(filters=label) == []
    volumes = {v.name for v in stack.client.volumes.list(filters=label)}
    assert f"{stack.name}_secrets-sidecar" in volumes and f"{stack.name}_redis" in volumes
    stack.compose("down", "--volumes", "--timeout", "30")
    assert stack.client.volumes.list(filters=label) == []
