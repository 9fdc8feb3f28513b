"""pagletto and the pull queue on the real things: Debian's docker-registry serving images,
the tests' Docker engine pulling them, pagletto workers as processes, real Redis, and the
sidecar (gunicorn) behind the gateway (nginx).

Each test pushes an image of its own: the Jupyter image plus a layer of random bytes, so
that a pull downloads that layer for real (the Jupyter layers are on the engine already).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import docker
import pytest
import redis as redis_lib
import requests

from devtools import services as devstack
from devtools.engine import REGISTRY_RANGE, start_engine
from devtools.netns import throttled
from devtools.registry import Registry, pushed_image, start_registry
from devtools.services import CACHE
from nextpyter import pullqueue
from nextpyter.common.keys import pull_state
from nextpyter.sidecar.dynconfig import CONFIG_KEY
from nextpyter.sidecar.signing import mint_admin_token
from tests.support.docker import TEST_REPOSITORY, docker_env, make_user
from tests.support.stack import Stack, launch_events, start_stack, wait_until

FAST = {  # workers that take over and give up quickly
    "NEXTPYTER_PULL_CLAIM_IDLE": "2",
    "NEXTPYTER_PULL_BACKOFF": "0.2",
    "NEXTPYTER_PULL_RETRIES": "1",
    "NEXTPYTER_PULL_MAX_DELIVERIES": "3",
}


@pytest.fixture(scope="module")
def pstack(
    workdir: Path,
    redis_service: Any,
    keys: tuple[Path, Path],
    signing_key: Any,
    docker_engine: tuple[Any, str],
) -> Iterator[Stack]:
    engine, image = docker_engine
    running = start_stack(
        workdir / "pagletto-stack",
        redis_service.address,
        keys[1],
        signing_key,
        **docker_env(image, engine.url, NEXTPYTER_PULL_TIMEOUT="120"),
    )
    yield running
    running.close()


@pytest.fixture
def rclient(redis_service: Any) -> Iterator[redis_lib.Redis]:
    """The stack's Redis, with no queue, pull state or run-time settings left over."""
    client = redis_lib.Redis.from_url(redis_service.address, decode_responses=True)

    def clean() -> None:
        keys = [pullqueue.STREAM, pullqueue.DEAD_STREAM, pullqueue.WORKERS, CONFIG_KEY]
        keys += list(client.scan_iter(pull_state("*")))
        client.delete(*keys)

    clean()
    yield client
    clean()
    client.close()


@pytest.fixture
def workers(
    workdir: Path, redis_service: Any, docker_engine: tuple[Any, str]
) -> Iterator[Callable[..., devstack.Service]]:
    """Start pagletto workers (processes) on the tests' Redis and engine; stopped by pid."""
    started: list[devstack.Service] = []

    def start(name: str, redis_address: str = "", **env: str) -> devstack.Service:
        service = devstack.start_pagletto(
            workdir / "pagletto",
            redis_address or redis_service.address,
            docker_engine[0].url,
            f"{name}-{uuid.uuid4().hex[:6]}",
            **{**FAST, **env},
        )
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def allow(client: redis_lib.Redis, *images: str) -> None:
    """The administrator's run-time settings: these images, the first the default."""
    client.set(
        CONFIG_KEY,
        json.dumps(
            {
                "profiles": {"default": {}},
                "allowed_images": list(images),
                "default_image": images[0],
            }
        ),
    )


def new_image(
    client: docker.DockerClient, registry: Registry, base: str, megabytes: int = 24
) -> str:
    name = f"{registry.address}/{TEST_REPOSITORY}/j{uuid.uuid4().hex[:10]}:v1"
    return pushed_image(client, base, name, megabytes)[0]


def repository(image: str) -> str:
    """The path part of the registry's URLs for ``image``."""
    return "/v2/" + image.split("/", 1)[1].rsplit(":", 1)[0]


def events_of(stack: Stack, launch: dict[str, Any], timeout: float = 180) -> list[dict[str, Any]]:
    """Every progress event of a launch, to its last."""
    return launch_events(f"{stack.url}{launch['events']}", timeout)


def state(client: redis_lib.Redis, image: str) -> pullqueue.PullState | None:
    return pullqueue.read_state(client, pullqueue.normalize_image(image))


def final_state(client: redis_lib.Redis, image: str, timeout: float = 90) -> pullqueue.PullState:
    def final() -> pullqueue.PullState | None:
        found = state(client, image)
        return found if found and found.state in pullqueue.FINAL else None

    return wait_until(final, timeout=timeout, interval=0.1)


def admin_headers(signing_key: Any) -> dict[str, str]:
    """An admin token, as Nextcloud signs one for each call (each works once)."""
    token = mint_admin_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", scopes=["admin"]
    )
    return {"Authorization": f"Bearer {token}"}


def test_a_launch_pulls_its_image_with_rising_progress_and_runs_the_notebook(
    pstack: Stack,
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
) -> None:
    engine, base = docker_engine
    image = new_image(pull_engine_client, registry, base, megabytes=32)
    allow(rclient, image)
    workers("solo")
    make_user(pstack, "paula")
    # 32 MB at 80 Mbit/s: about 3 s of download, so the progress has steps to show.
    with throttled(engine.netns, "80mbit"):
        cookie, launch = pstack.launch("paula")
        events = events_of(pstack, launch)
    assert events[-1]["state"] == "ready", events[-1]
    pulling = [e for e in events if e["state"] == "pulling"]
    pulls = [json.loads(e["pull"]) for e in pulling]
    downloading = [p for p in pulls if p["state"] == "pulling" and p["done"] > 0]
    assert len(downloading) >= 3, pulls  # byte-level steps, not a jump
    assert all(p["total"] >= 32_000_000 for p in downloading)  # the layer's real size
    assert any(
        f"Downloading {image}: " in e["message"] and " MB of " in e["message"] for e in pulling
    )
    for key in ("percent", "done"):
        series = [p[key] for p in pulls]
        assert series == sorted(series), (key, series)
    assert pulls[-1]["state"] == "done" and pulls[-1]["percent"] == 100  # to 100 %
    assert pulling[-1]["message"] == f"Downloaded {image}"
    launch_percent = [int(e["percent"]) for e in events if "percent" in e]
    assert launch_percent == sorted(launch_percent) and launch_percent[-1] == 100
    # The pull reached 100 % (done), and the notebook answers through the gateway.
    done = state(rclient, image)
    assert done is not None and done.state == "done" and done.percent == 100
    assert done.done >= 32_000_000
    pull_engine_client.images.get(image)
    assert pstack.get(f"/user/{launch['slug']}/api/status", cookie).status_code == 200
    assert pull_engine_client.containers.get(f"nextpyter-{launch['slug']}").image.tags == [image]
    # Acknowledged and deleted: nothing pending, nothing dead.
    assert rclient.xlen(pullqueue.STREAM) == 0
    assert rclient.xlen(pullqueue.DEAD_STREAM) == 0
    assert registry.requests("GET", f"{repository(image)}/manifests/") == 1


def test_twenty_launches_of_a_missing_image_make_one_registry_pull(
    pstack: Stack,
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
) -> None:
    engine, base = docker_engine
    image = new_image(pull_engine_client, registry, base)
    allow(rclient, image)
    workers("first")
    workers("second")  # two workers, one job: only one of them pulls
    users = [f"crowd{n}" for n in range(20)]
    for user in users:
        make_user(pstack, user)
    results: dict[str, list[dict[str, Any]]] = {}

    def one(user: str) -> None:
        _, launch = pstack.launch(user)
        results[user] = events_of(pstack, launch, timeout=240)

    with throttled(engine.netns, "80mbit"):
        threads = [threading.Thread(target=one, args=(user,)) for user in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    try:
        assert sorted(results) == sorted(users)
        assert all(events[-1]["state"] == "ready" for events in results.values()), [
            events[-1] for events in results.values() if events[-1]["state"] != "ready"
        ]
        # One pull in the registry's own log: one manifest fetch, and one fetch of each of
        # the image's blobs (its config and the new layer).
        assert registry.requests("GET", f"{repository(image)}/manifests/") == 1
        assert registry.requests("GET", f"{repository(image)}/blobs/") == 2
        # Everyone followed that one pull.
        jobs = {
            json.loads(e["pull"])["job"]
            for events in results.values()
            for e in events
            if e["state"] == "pulling"
        }
        assert len(jobs) == 1
        assert (
            sum(1 for events in results.values() if any(e["state"] == "pulling" for e in events))
            == 20
        )
    finally:
        pstack.stop_all()


def test_a_worker_killed_mid_pull_is_taken_over_by_another(
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
) -> None:
    engine, base = docker_engine
    image = new_image(pull_engine_client, registry, base, megabytes=40)
    with throttled(engine.netns, "24mbit"):  # 40 MB: about 13 s
        first = workers("doomed")
        requested = pullqueue.request_pull(rclient, image, "test")

        def downloading() -> pullqueue.PullState | None:
            found = state(rclient, image)
            return found if found and found.state == "pulling" and found.done > 0 else None

        seen = wait_until(downloading, timeout=30)
        assert seen.worker.startswith("doomed")
        second = workers("rescuer")
        os.kill(first.pid, signal.SIGKILL)  # mid-pull, holding the entry
        first.process.wait(5)
        done = final_state(rclient, image, timeout=120)
    assert done.state == "done", done
    assert done.job == requested.job
    assert done.worker.startswith("rescuer") and done.attempt == 2  # delivered twice
    pull_engine_client.images.get(image)
    assert rclient.xlen(pullqueue.STREAM) == 0
    assert rclient.xlen(pullqueue.DEAD_STREAM) == 0
    assert second.process.poll() is None


def test_bad_jobs_reach_the_dead_letter_stream_and_the_user_sees_why(
    pstack: Stack,
    registry: Registry,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
) -> None:
    engine, _ = docker_engine
    workers("judge")
    make_user(pstack, "nadia")
    # An image the registry does not have: given up at once, and the launch says why.
    missing = f"{registry.address}/{TEST_REPOSITORY}/never-pushed:1"
    # A registry that is not there: a transient error, tried again, taken over, and given
    # up after NEXTPYTER_PULL_MAX_DELIVERIES (3) deliveries.
    unreachable = f"{engine.netns.host_ip}:9/{TEST_REPOSITORY}/nowhere:1"
    allow(rclient, missing, unreachable)
    _, launch = pstack.launch("nadia")
    last = pstack.wait(launch, timeout=60)
    assert last["state"] == "failed"
    assert f"The image {missing} does not exist" in last["message"]
    assert "admin settings" in last["message"]
    allow(rclient, unreachable, missing)
    _, launch = pstack.launch("nadia")
    last = pstack.wait(launch, timeout=90)
    assert last["state"] == "failed"
    assert "gave up pulling" in last["message"] and "connection refused" in last["message"]
    # A malformed entry (not something the sidecar writes): dead-lettered, not retried.
    rclient.xadd(pullqueue.STREAM, {"job": "../../etc", "image": "UPPER/case:x"})

    def dead_count(n: int) -> list[Any] | None:
        entries: Any = rclient.xrange(pullqueue.DEAD_STREAM)
        return entries if len(entries) >= n else None

    dead = [fields for _, fields in wait_until(lambda: dead_count(3), timeout=30)]
    by_kind = {fields["error_kind"]: fields for fields in dead}
    assert set(by_kind) == {"not-found", "registry", "malformed"}
    assert by_kind["not-found"]["image"] == missing and by_kind["not-found"]["deliveries"] == "1"
    assert by_kind["registry"]["image"] == unreachable
    assert by_kind["registry"]["deliveries"] == "4"  # the 4th delivery gave it up
    assert "connection refused" in by_kind["registry"]["error"]
    assert "Not a pull job" in by_kind["malformed"]["error"]
    assert rclient.xlen(pullqueue.STREAM) == 0
    assert not rclient.xpending(pullqueue.STREAM, pullqueue.GROUP)["pending"]
    assert state(rclient, missing).error_kind == "not-found"  # type: ignore[union-attr]


def test_a_registry_that_comes_back_is_tried_again_with_backoff(
    workdir: Path,
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
) -> None:
    """A registry that is down for a moment (a restart): the worker tries again, waiting
    longer each time, and the pull completes within the same delivery."""
    engine, base = docker_engine
    pushed = new_image(pull_engine_client, registry, base, megabytes=4)
    port = devstack.free_port()  # where the registry will be, once it is back
    image = pushed.replace(registry.address, f"{engine.netns.host_ip}:{port}")
    workers(
        "patient",
        NEXTPYTER_PULL_RETRIES="6",
        NEXTPYTER_PULL_BACKOFF="0.5",
        NEXTPYTER_PULL_CLAIM_IDLE="60",
    )
    pullqueue.request_pull(rclient, image, "test")
    retrying = wait_until(
        lambda: (s := state(rclient, image)) and s.state == "retrying" and s, timeout=30
    )
    assert "connection refused" in retrying.error and retrying.error_kind == "registry"
    back = start_registry(
        workdir / "registry-back", engine.netns.host_ip, CACHE / "registry", port=port
    )
    try:
        done = final_state(rclient, image, timeout=60)
    finally:
        back.stop()
    assert done.state == "done", done
    assert done.attempt == 1 and done.error == ""  # the same delivery, no takeover
    assert rclient.xlen(pullqueue.DEAD_STREAM) == 0
    pull_engine_client.images.get(image)


def test_a_job_survives_a_redis_restart(
    workdir: Path,
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    workers: Callable[..., devstack.Service],
) -> None:
    """With the persistence a deployment configures (append-only file), a queued job and a
    job being pulled both outlive a Redis restart."""
    engine, base = docker_engine
    queued, pulling = (new_image(pull_engine_client, registry, base) for _ in range(2))
    directory = workdir / "redis-aof"
    server = devstack.start_redis(directory, persistent=True)
    client = redis_lib.Redis.from_url(server.address, decode_responses=True)
    try:
        pullqueue.request_pull(client, queued, "test")  # no worker yet: it waits in the stream
        server.stop()
        server = devstack.start_redis(directory, persistent=True)
        assert client.xlen(pullqueue.STREAM) == 1
        with throttled(engine.netns, "24mbit"):
            workers("survivor", redis_address=server.address)
            assert final_state(client, queued).state == "done"
            pullqueue.request_pull(client, pulling, "test")
            wait_until(lambda: (s := state(client, pulling)) and s.done > 0, timeout=30)
            server.stop()  # mid-pull
            time.sleep(1)
            server = devstack.start_redis(directory, persistent=True)
            done = final_state(client, pulling, timeout=120)
        assert done.state == "done", done
        assert client.xlen(pullqueue.STREAM) == 0
        assert not client.xpending(pullqueue.STREAM, pullqueue.GROUP)["pending"]
        for image in (queued, pulling):
            pull_engine_client.images.get(image)
    finally:
        client.close()
        server.stop()


def test_registry_credentials_come_from_configuration_and_are_never_logged(
    workdir: Path,
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
) -> None:
    engine, base = docker_engine
    password = f"pw-{uuid.uuid4().hex}"
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text(f"puller:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()}\n")
    # A second registry on the same storage, wanting credentials.
    private = start_registry(
        workdir / "private-registry",
        engine.netns.host_ip,
        CACHE / "registry",
        htpasswd=htpasswd,
    )
    try:
        pushed = new_image(pull_engine_client, registry, base, megabytes=4)
        image = pushed.replace(registry.address, private.address)

        def auth_file(name: str, secret: str) -> str:
            path = workdir / f"{name}.json"
            token = __import__("base64").b64encode(f"puller:{secret}".encode()).decode()
            path.write_text(json.dumps({"auths": {private.address: {"auth": token}}}))
            return str(path)

        wrong = workers("wrong", NEXTPYTER_REGISTRY_AUTH=auth_file("wrong", "not-it"))
        pullqueue.request_pull(rclient, image, "test")
        failed = final_state(rclient, image)
        assert failed.state == "failed" and failed.error_kind == "unauthorized", failed
        assert f"The registry {private.address} refused access" in failed.error
        assert "NEXTPYTER_REGISTRY_AUTH" in failed.error
        wrong.stop()
        right = workers("right", NEXTPYTER_REGISTRY_AUTH=auth_file("right", password))
        pullqueue.request_pull(rclient, image, "test")
        assert final_state(rclient, image).state == "done"
        pull_engine_client.images.get(image)
        right.stop()
        for service in (wrong, right):
            text = service.log.read_text()
            assert "registry credentials from" in text
            assert password not in text and "not-it" not in text
    finally:
        private.stop()


def test_the_admin_api_pre_pulls_allowed_images_and_reports_them(
    pstack: Stack,
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
    signing_key: Any,
) -> None:
    _, base = docker_engine
    first, second = (new_image(pull_engine_client, registry, base, megabytes=8) for _ in range(2))
    allow(rclient, first, second)
    api = f"{pstack.url}/api/v1/images"

    def call(method: str, path: str = "", **kwargs: Any) -> requests.Response:
        return requests.request(
            method, f"{api}{path}", headers=admin_headers(signing_key), timeout=30, **kwargs
        )

    listed = call("GET").json()["images"]
    assert [(i["image"], i["default"], i["present"], i["pull"]) for i in listed] == [
        (first, True, False, None),
        (second, False, False, None),
    ]
    # Refused before anything is queued: an image not on the list, a malformed body.
    for body, status in (
        ({"images": [first, "other/image:1"]}, 403),
        ({"images": ["Not An Image"]}, 400),
        ({"images": []}, 400),
        ({"image": first}, 400),
    ):
        answer = call("POST", "/pulls", json=body)
        assert answer.status_code == status, answer.text
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json()["detail"]
    assert requests.post(f"{api}/pulls", json={"images": [first]}, timeout=30).status_code == 401
    assert rclient.xlen(pullqueue.STREAM) == 0
    # Queued (twice asked, once queued), then pulled by two workers sharing the queue.
    answer = call("POST", "/pulls", json={"images": [first, second, first]})
    assert answer.status_code == 202, answer.text
    assert [(p["image"], p["queued"]) for p in answer.json()["pulls"]] == [
        (first, True),
        (second, True),
    ]
    again = call("POST", "/pulls", json={"images": [first]})
    assert again.json()["pulls"][0]["queued"] is False  # joined the queued pull

    def both_present() -> list[dict[str, Any]] | None:
        images = call("GET").json()["images"]
        return images if all(i["present"] for i in images) else None

    with throttled(docker_engine[0].netns, "40mbit"):  # each pull takes a while
        workers("left")
        workers("right")
        images = wait_until(both_present, timeout=90, interval=0.3)
    # Each worker took one: the queue is shared, not pulled twice or in turn.
    states = [state(rclient, image) for image in (first, second)]
    assert {s.worker.split("-")[0] for s in states if s} == {"left", "right"}

    assert all(i["pull"]["state"] == "done" and i["pull"]["percent"] == 100 for i in images)
    assert rclient.xlen(pullqueue.STREAM) == 0


def test_a_full_disk_is_a_clear_failure(
    workdir: Path,
    registry: Registry,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
) -> None:
    """A second engine whose data root is a 96 MB file system cannot hold the Jupyter
    image: the pull fails with the disk named, at once (another try cannot help)."""
    _, image = docker_engine
    mount = Path(tempfile.mkdtemp(prefix="npd-small-", dir="/run"))
    data_root = mount / "docker"
    data_root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(data_root)], check=True)
    try:
        small = start_engine(
            data_root=data_root, extra_options=[f"--insecure-registry={REGISTRY_RANGE}"]
        )
        try:
            workers("cramped", DOCKER_HOST=small.url)
            reference = f"{registry.address}/{image}"
            pullqueue.request_pull(rclient, reference, "test")
            failed = final_state(rclient, reference, timeout=120)
        finally:
            small.stop()
    finally:
        subprocess.run(["umount", str(data_root)], check=False)
        shutil.rmtree(mount, ignore_errors=True)
    assert failed.state == "failed" and failed.error_kind == "disk-full", failed
    assert "ran out of disk space" in failed.error and "free space" in failed.error
    dead: Any = rclient.xrange(pullqueue.DEAD_STREAM)
    assert [fields["error_kind"] for _, fields in dead] == ["disk-full"]
    assert dead[0][1]["deliveries"] == "1"


def test_the_progress_page_shows_the_download_in_chromium(
    pstack: Stack,
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
    tmp_path: Path,
) -> None:
    """What a person sees: Nextcloud's form POST, then the progress page counting the
    image's megabytes with a bar that only grows, then JupyterLab."""
    from playwright.sync_api import Error as PlaywrightError

    from tests.support.browser_flow import chromium, open_in_jupyter_from_nextcloud, origin_of

    engine, base = docker_engine
    image = new_image(pull_engine_client, registry, base, megabytes=24)
    allow(rclient, image)
    workers("shown")
    make_user(pstack, "bruno")
    origin = origin_of(pstack)
    shown: list[tuple[str, int]] = []
    with throttled(engine.netns, "16mbit"), chromium(tmp_path / "profile") as context:
        page = context.pages[0] if context.pages else context.new_page()
        open_in_jupyter_from_nextcloud(page, f"{origin}/api/v1/launch", pstack.token("bruno"))
        page.get_by_role("button", name="Open in Jupyter").click()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "/user/bruno/lab" not in page.url:
            try:
                text, width = page.evaluate(
                    "() => [document.getElementById('message').textContent,"
                    " document.getElementById('bar').style.width]"
                )
            except PlaywrightError:  # the page is moving on to JupyterLab
                continue
            if not shown or shown[-1] != (text, int(float(width.rstrip("%") or 0))):
                shown.append((text, int(float(width.rstrip("%") or 0))))
            time.sleep(0.1)
        page.wait_for_url(f"{origin}/user/bruno/lab", timeout=120_000)
    pstack.stop_all()
    downloads = [text for text, _ in shown if text.startswith(f"Downloading {image}: ")]
    assert len(downloads) >= 3, shown  # megabytes counted up, not a jump
    assert all(" MB of " in text and text.endswith(" %)…") for text in downloads), downloads
    widths = [width for _, width in shown]
    assert widths == sorted(widths) and widths[-1] >= 80, shown


def test_a_download_that_stalls_is_cut_and_tried_again(
    registry: Registry,
    pull_engine_client: docker.DockerClient,
    docker_engine: tuple[Any, str],
    rclient: redis_lib.Redis,
    workers: Callable[..., devstack.Service],
) -> None:
    """The registry stops sending in the middle of a layer without closing the connection
    (its packets dropped): the engine would wait; pagletto cuts the pull after
    NEXTPYTER_PULL_STALL_TIMEOUT and tries again, which completes once traffic flows."""
    engine, base = docker_engine
    image = new_image(pull_engine_client, registry, base, megabytes=24)
    port = registry.address.rsplit(":", 1)[1]
    rule = ["-s", engine.netns.host_ip, "-p", "tcp", "--sport", port, "-j", "DROP"]
    iptables = [*engine.netns.enter, "iptables"]
    worker = workers(
        "stalled",
        NEXTPYTER_PULL_STALL_TIMEOUT="3",
        NEXTPYTER_PULL_RETRIES="4",
        NEXTPYTER_PULL_BACKOFF="1",
        NEXTPYTER_PULL_CLAIM_IDLE="60",
    )
    with throttled(engine.netns, "16mbit"):  # 24 MB: about 12 s
        pullqueue.request_pull(rclient, image, "test")
        wait_until(lambda: (s := state(rclient, image)) and s.done > 0, timeout=30)
        subprocess.run([*iptables, "-I", "INPUT", *rule], check=True)  # the registry goes quiet
        try:
            retrying = wait_until(
                lambda: (s := state(rclient, image)) and s.state == "retrying" and s, timeout=30
            )
        finally:
            subprocess.run([*iptables, "-D", "INPUT", *rule], check=False)
        done = final_state(rclient, image, timeout=120)
    assert "stalled" in retrying.error and "NEXTPYTER_PULL_STALL_TIMEOUT" in retrying.error
    assert done.state == "done" and done.attempt == 1, done  # the same delivery
    assert "stalled; cutting it" in worker.log.read_text()
    pull_engine_client.images.get(image)
