"""The pull queue's quick tests: pagletto's contract, the worker's pure parts and its
dead-letter paths, its settings, the sidecar's follower and the admin image API.

Everything that touches Redis uses the real one (the ``redis_client`` fixture). No Docker
engine is involved: the worker paths tested here must never reach one, and the engine
factory they get counts its calls and fails as an unreachable engine does. The pulls
themselves, on a real registry and engine, are in tests/test_pagletto.py (slow).
"""

from __future__ import annotations

import json
import os
import queue
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest
import redis as redis_lib
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nextpyter import pullqueue
from nextpyter.common.env import ConfigError
from nextpyter.pagletto.config import PullSettings, load_settings
from nextpyter.pagletto.worker import DOWNLOAD_SHARE, Progress, Worker, classify
from nextpyter.sidecar import pulls as pulls_module
from nextpyter.sidecar.pulls import Pulls, PullTimeout, describe

DIGEST = "sha256:" + "0123456789abcdef" * 4


# -- helpers ---------------------------------------------------------------------------


class NoEngine:
    """An engine factory for a worker that must not reach the engine: it counts its calls
    and hands out a real client of an engine that is not there (its socket does not
    exist), which fails as an unreachable engine does."""

    def __init__(self) -> None:
        self.calls = 0
        self.socket = Path(tempfile.gettempdir()) / f"no-engine-{uuid.uuid4().hex}.sock"

    def __call__(self) -> docker.DockerClient:
        self.calls += 1
        return docker.DockerClient(base_url=f"unix://{self.socket}", version="1.41", timeout=5)


def deliver(client: redis_lib.Redis, worker: str) -> None:
    """Hand the queued entries to ``worker``, as its XREADGROUP would: a worker writes an
    image's state only while the job's entry is its own."""
    client.xreadgroup(pullqueue.GROUP, worker, {pullqueue.STREAM: ">"})


def puller(client: redis_lib.Redis) -> Worker:
    """A live worker, "puller", holding the queued entries: what writes progress in the
    follower's tests (through the worker's own state writes)."""
    pullqueue.seen(client, "puller")
    deliver(client, "puller")
    return Worker(pull_settings(worker="puller"), client, NoEngine())


def pull_settings(**changes: Any) -> PullSettings:
    base = PullSettings(
        redis_url="unix:///not/used",
        worker="test-worker",
        claim_idle=0.1,
        max_deliveries=3,
        retries=0,
        backoff=0.0,
        backoff_max=0.0,
        stall=300.0,
        auth={},
        auth_file="",
    )
    return replace(base, **changes)


def pending_deliveries(client: redis_lib.Redis, entry: str) -> int:
    found: Any = client.xpending_range(
        pullqueue.STREAM, pullqueue.GROUP, min=entry, max=entry, count=1
    )
    return int(found[0]["times_delivered"]) if found else 0


def dead_letters(client: redis_lib.Redis) -> list[dict[str, str]]:
    entries: Any = client.xrange(pullqueue.DEAD_STREAM)
    return [fields for _, fields in entries]


def state_of(client: redis_lib.Redis, image: str) -> pullqueue.PullState:
    found = pullqueue.read_state(client, pullqueue.normalize_image(image))
    assert found is not None, f"no pull state for {image}"
    return found


def admin(signing_key: Any, scopes: tuple[str, ...] = ("admin",)) -> dict[str, str]:
    """A fresh admin token (they are single-use): one per request."""
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_admin_token

    token = mint_admin_token(
        signing_key, issuer=devstack.ISSUER, audience="nextpyter-sidecar", scopes=list(scopes)
    )
    return {"Authorization": f"Bearer {token}"}


# -- image references --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized", "split"),
    [
        ("notebook", "notebook:latest", ("notebook", "latest")),
        ("notebook:latest", "notebook:latest", ("notebook", "latest")),
        ("team/notebook:2024-06", "team/notebook:2024-06", ("team/notebook", "2024-06")),
        # A registry's port is not a tag: the tag is looked for in the last component only.
        ("host:5000/x", "host:5000/x:latest", ("host:5000/x", "latest")),
        ("host:5000/team/x:1.2", "host:5000/team/x:1.2", ("host:5000/team/x", "1.2")),
        ("quay.io/jupyter/scipy-notebook", "quay.io/jupyter/scipy-notebook:latest", None),
        (f"x@{DIGEST}", f"x@{DIGEST}", ("x", DIGEST)),
        (f"host:5000/x@{DIGEST}", f"host:5000/x@{DIGEST}", ("host:5000/x", DIGEST)),
    ],
)
def test_normalize_and_split_image(
    given: str, normalized: str, split: tuple[str, str] | None
) -> None:
    assert pullqueue.normalize_image(given) == normalized
    assert pullqueue.normalize_image(normalized) == normalized  # idempotent
    if split is not None:
        assert pullqueue.split_image(normalized) == split


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ("", "is not an image reference"),
        ("Notebook", "is not an image reference"),  # repository names are lowercase
        ("team/NoteBook:1", "is not an image reference"),
        ("note book", "is not an image reference"),
        (" notebook", "is not an image reference"),
        ("notebook\n", "is not an image reference"),
        ("-notebook", "is not an image reference"),
        (".notebook", "is not an image reference"),
        ("x" * 256, "is not an image reference"),
        ("x@sha256:abc", "malformed digest"),
        ("x@md5:" + "0" * 32, "malformed digest"),
        ("x@", "malformed digest"),
        (f"x@{DIGEST}0", "malformed digest"),
        (f"x@{DIGEST}@{DIGEST}", "malformed digest"),
    ],
)
def test_normalize_image_refuses_odd_references(given: str, needle: str) -> None:
    with pytest.raises(pullqueue.InvalidImage, match=needle) as caught:
        pullqueue.normalize_image(given)
    assert isinstance(caught.value, ValueError)
    assert len(str(caught.value)) < 300  # a long reference is not echoed whole


def test_normalize_image_refuses_what_is_not_a_string() -> None:
    for value in (None, 3, b"notebook", ["notebook"]):
        with pytest.raises(pullqueue.InvalidImage):
            pullqueue.normalize_image(value)  # type: ignore[arg-type]


def test_the_longest_reference_accepted_is_255_characters() -> None:
    name = "x" * 248  # with ":latest", 255
    assert pullqueue.normalize_image(name) == f"{name}:latest"
    assert pullqueue.normalize_image("x" * 255) == "x" * 255 + ":latest"


@pytest.mark.parametrize(
    "given", ["team/../notebook", "a..b", "team//notebook", "notebook/", "notebook:", "x:1:2"]
)
def test_normalize_image_refuses_references_the_engine_refuses(given: str) -> None:
    with pytest.raises(pullqueue.InvalidImage):
        pullqueue.normalize_image(given)


# -- jobs ----------------------------------------------------------------------------------


def test_job_fields_parse_back() -> None:
    job = pullqueue.Job(uuid.uuid4().hex, "team/notebook:1", 1_700_000_000.125, "launch:ann")
    assert pullqueue.Job.parse(job.fields()) == job
    # The image is normalized, the requester cut short.
    parsed = pullqueue.Job.parse(
        {"job": job.job, "image": "team/notebook", "requested_by": "r" * 500}
    )
    assert parsed.image == "team/notebook:latest"
    assert parsed.requested_by == "r" * 100 and parsed.requested_at == 0.0


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"image": "notebook"},
        {"job": "", "image": "notebook"},
        {"job": "../../etc/passwd", "image": "notebook"},
        {"job": uuid.uuid4().hex.upper(), "image": "notebook"},
        {"job": uuid.uuid4().hex + "0", "image": "notebook"},
        {"job": uuid.uuid4().hex[:31], "image": "notebook"},
        {"job": uuid.uuid4().hex},
        {"job": uuid.uuid4().hex, "image": "UPPER/case:x"},
        {"job": uuid.uuid4().hex, "image": "x@sha256:short"},
        {"job": uuid.uuid4().hex, "image": "notebook", "requested_at": "yesterday"},
        {"job": uuid.uuid4().hex, "image": "notebook", "requested_at": ""},
    ],
)
def test_job_parse_refuses_malformed_fields(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        pullqueue.Job.parse(fields)


def test_pull_state_from_a_garbled_hash() -> None:
    state = pullqueue.PullState.from_hash(
        "x:latest",
        {"state": "pulling", "done": "many", "percent": "NaNa", "layers": "[1, 2]", "attempt": ""},
    )
    assert (state.state, state.done, state.percent, state.layers, state.attempt) == (
        "pulling",
        0,
        0.0,
        {},
        0,
    )
    bad_json = pullqueue.PullState.from_hash("x:latest", {"layers": "{not json"})
    assert bad_json.layers == {}


# -- progress ------------------------------------------------------------------------------

PRESENT, BIG, SMALL, TINY = "a1b2c3d4e5f6", "0f1e2d3c4b5a", "99887766aabb", "deadbeef0001"
MB = 1_000_000


def _m(
    layer: str, status: str, current: int | None = None, total: int | None = None
) -> dict[str, Any]:
    detail = {} if current is None else {"current": current, "total": total}
    message: dict[str, Any] = {"status": status, "progressDetail": detail, "id": layer}
    if current is not None:
        message["progress"] = f"[=>    ] {current / MB:.1f}MB/{(total or 0) / MB:.1f}MB"
    return message


# As the engine streams a pull of team/notebook:2024-06 (one layer on the engine already,
# a tiny layer whose size is never said before it is downloaded), with a checkpoint name
# where the test looks closer.
PULL_MESSAGES: list[tuple[dict[str, Any], str]] = [
    ({"status": "Pulling from team/notebook", "id": "2024-06"}, ""),
    (_m(PRESENT, "Already exists"), ""),
    (_m(BIG, "Pulling fs layer"), ""),
    (_m(SMALL, "Pulling fs layer"), ""),
    (_m(TINY, "Pulling fs layer"), ""),
    (_m(TINY, "Waiting"), "nothing-known"),
    (_m(BIG, "Downloading", 524_288, 10 * MB), ""),
    (_m(SMALL, "Downloading", 100_000, 2 * MB), ""),
    (_m(BIG, "Downloading", 5 * MB, 10 * MB), ""),
    (_m(SMALL, "Retrying in 5 seconds"), "retrying"),
    (_m(SMALL, "Downloading", 1 * MB, 2 * MB), ""),
    (_m(SMALL, "Verifying Checksum"), ""),
    (_m(SMALL, "Download complete"), "small-downloaded"),
    # The engine repeats a "Downloading" after "Download complete" at times.
    (_m(SMALL, "Downloading", 1_500_000, 2 * MB), "late-downloading"),
    (_m(BIG, "Downloading", 10 * MB, 10 * MB), ""),
    (_m(BIG, "Verifying Checksum"), ""),
    (_m(BIG, "Download complete"), ""),
    (_m(BIG, "Extracting", 32_768, 10 * MB), ""),
    (_m(BIG, "Extracting", 10 * MB, 10 * MB), ""),
    (_m(BIG, "Pull complete"), ""),
    (_m(SMALL, "Extracting", 2 * MB, 2 * MB), ""),
    (_m(SMALL, "Pull complete"), ""),
    (_m(TINY, "Verifying Checksum"), ""),
    (_m(TINY, "Download complete"), ""),
    (_m(TINY, "Extracting", 1_200, 1_200), ""),
    (_m(TINY, "Pull complete"), "all-complete"),
    ({"status": "Digest: " + DIGEST}, ""),
    ({"status": "Status: Downloaded newer image for team/notebook:2024-06"}, "end"),
]


def test_progress_over_a_real_pull_never_goes_back() -> None:
    progress = Progress()
    percents: list[float] = []
    at: dict[str, tuple[float, int, int, dict[str, Any]]] = {}
    for message, checkpoint in PULL_MESSAGES:
        progress.update(message)
        percents.append(progress.percent)
        fields = progress.fields()
        assert 0.0 <= progress.percent < 100.0, message
        assert 0 <= progress.done <= progress.total or progress.total == 0, message
        assert int(fields["done"]) == progress.done and int(fields["total"]) == progress.total
        if checkpoint:
            at[checkpoint] = (
                progress.percent,
                progress.done,
                progress.total,
                json.loads(fields["layers"]),
            )
    assert percents == sorted(percents), "the percentage went back"
    assert percents[-1] > percents[0]

    # Nothing downloaded yet: nothing counted, the present layer is not a layer to fetch.
    percent, done, total, layers = at["nothing-known"]
    assert (percent, done, total) == (0.0, 0, 0)
    assert layers[PRESENT]["status"] == "Already exists"
    assert "2024-06" not in layers  # "Pulling from" names the tag, not a layer

    percent, done, total, layers = at["retrying"]
    assert layers[SMALL]["status"] == "Retrying"
    assert (done, total) == (5 * MB + 100_000, 12 * MB)

    # The tiny layer's size is unknown: no bytes of it, but it weighs as the average layer.
    percent, done, total, layers = at["small-downloaded"]
    assert (done, total) == (7 * MB, 12 * MB)
    average = (10 * MB + 2 * MB) / 2
    expected = DOWNLOAD_SHARE * (5 * MB + 2 * MB) / (10 * MB + 2 * MB + average)
    assert percent == pytest.approx(100 * expected, abs=0.01)
    assert percent < 100 * DOWNLOAD_SHARE * done / total  # the unknown layer holds it back

    # The repeated "Downloading" changes nothing.
    late = at["late-downloading"]
    assert late[:3] == at["small-downloaded"][:3]
    assert late[3][SMALL]["status"] == "Download complete"

    percent, done, total, layers = at["all-complete"]
    assert (done, total) == (12 * MB + 1_200, 12 * MB + 1_200)
    assert 99.0 <= percent < 100.0  # 100 only once the image is on the engine
    assert {layer["status"] for key, layer in layers.items() if key != PRESENT} == {"Pull complete"}
    assert at["end"][:3] == at["all-complete"][:3]  # "Digest:" and "Status:" are no layers


def test_progress_of_a_pull_with_every_layer_present_counts_no_bytes() -> None:
    progress = Progress()
    for message in (
        {"status": "Pulling from team/notebook", "id": "1"},
        _m(PRESENT, "Already exists"),
        _m(BIG, "Already exists"),
        {"status": "Digest: " + DIGEST},
        {"status": "Status: Image is up to date for team/notebook:1"},
    ):
        progress.update(message)
    assert (progress.done, progress.total, progress.percent) == (0, 0, 0.0)
    assert set(json.loads(progress.fields()["layers"])) == {PRESENT, BIG}


def test_progress_with_sizes_unknown_moves_by_layer_count() -> None:
    progress = Progress()
    for layer in (BIG, SMALL):
        progress.update(_m(layer, "Pulling fs layer"))
    progress.update(_m(BIG, "Download complete"))  # no size ever said
    assert progress.total == 0
    assert progress.percent == pytest.approx(100 * DOWNLOAD_SHARE / 2, abs=0.01)
    progress.update(_m(BIG, "Downloading", 1, 10))  # late, and smaller: ignored
    assert progress.percent == pytest.approx(100 * DOWNLOAD_SHARE / 2, abs=0.01)


# -- classify --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "detail", "status", "kind", "transient", "registry", "says"),
    [
        (
            "host:5000/team/notebook:nope",
            "manifest for host:5000/team/notebook:nope not found: manifest unknown: "
            "manifest unknown",
            404,
            "not-found",
            False,
            "host:5000",
            "Ask your administrator",
        ),
        (
            "host:5000/team/notebook:1",
            "manifest unknown",
            None,
            "not-found",
            False,
            "host:5000",
            "admin settings",
        ),
        (
            "private/thing:latest",
            "pull access denied for private/thing, repository does not exist or may require "
            "'docker login': denied: requested access to the resource is denied",
            404,
            "not-found",
            False,
            "docker.io",
            "Ask your administrator",
        ),
        (
            "host:5000/team/notebook:1",
            'Head "https://host:5000/v2/team/notebook/manifests/1": unauthorized: '
            "authentication required",
            500,
            "unauthorized",
            False,
            "host:5000",
            "NEXTPYTER_REGISTRY_AUTH",
        ),
        (
            "registry.example.com/team/notebook:1",
            'Get "https://registry.example.com/v2/": no basic auth credentials',
            500,
            "unauthorized",
            False,
            "registry.example.com",
            "NEXTPYTER_REGISTRY_AUTH",
        ),
        (
            "team/notebook:1",
            "failed to register layer: write /var/lib/docker/overlay2/abc/diff/usr/lib/x.so: "
            "no space left on device",
            500,
            "disk-full",
            False,
            "Docker engine",  # the engine's disk, not the registry's fault
            "docker image prune",
        ),
        (
            "10.0.0.1:9/team/notebook:1",
            'Get "https://10.0.0.1:9/v2/": dial tcp 10.0.0.1:9: connect: connection refused',
            500,
            "registry",
            True,
            "10.0.0.1:9",
            "connection refused",
        ),
        (
            "team/notebook:1",
            "toomanyrequests: You have reached your pull rate limit.",
            None,
            "registry",
            True,
            "docker.io",
            "pull rate limit",
        ),
        ("team/notebook:1", "", None, "registry", True, "docker.io", "no detail"),
    ],
)
def test_classify_engine_errors(
    image: str,
    detail: str,
    status: int | None,
    kind: str,
    transient: bool,
    registry: str,
    says: str,
) -> None:
    error = classify(image, detail, status)
    assert error.kind == kind and error.kind in pullqueue.ERROR_KINDS
    assert error.transient is transient
    message = str(error)
    assert image in message and registry in message  # says which image, and where
    assert says in message


def test_classify_keeps_the_engine_detail_short() -> None:
    detail = "first line of the error " + "x" * 1000 + "\nsecond line\nthird"
    message = str(classify("team/notebook:1", detail))
    assert "first line" in message and "second line" not in message
    assert len(message) < 500


def test_classify_status_codes_alone() -> None:
    assert classify("team/notebook:1", "", 404).kind == "not-found"
    refused = classify("team/notebook:1", "invalid reference format", 400)
    assert refused.kind == "malformed" and not refused.transient


def test_classify_does_not_blame_credentials_for_the_engines_own_permission_error() -> None:
    error = classify(
        "team/notebook:1",
        "failed to register layer: open /var/lib/docker/overlay2/3f2a/diff/etc/shadow: "
        "permission denied",
        500,
    )
    assert error.kind != "unauthorized"
    assert "REGISTRY_AUTH" not in str(error)


# -- request_pull on Redis -------------------------------------------------------------------


def test_request_pull_queues_one_job_per_image(redis_client: redis_lib.Redis) -> None:
    first = pullqueue.request_pull(redis_client, "team/notebook", "launch:ann")
    second = pullqueue.request_pull(redis_client, "team/notebook:latest", "launch:bob")
    assert first.queued and not second.queued
    assert first.image == second.image == "team/notebook:latest"
    assert (second.job, second.entry) == (first.job, first.entry)
    entries: Any = redis_client.xrange(pullqueue.STREAM)
    assert len(entries) == 1
    entry, fields = entries[0]
    assert entry == first.entry
    assert pullqueue.Job.parse(fields).job == first.job
    assert fields["requested_by"] == "launch:ann"
    state = state_of(redis_client, "team/notebook")
    assert (state.state, state.job, state.entry, state.percent) == (
        "queued",
        first.job,
        first.entry,
        0.0,
    )
    key = pullqueue.state_key("team/notebook:latest")
    assert 0 < redis_client.ttl(key) <= pullqueue.STATE_TTL
    events: Any = redis_client.xrange(pullqueue.events_key("team/notebook:latest"))
    assert [fields["state"] for _, fields in events] == ["queued"]
    # Another image is another job.
    other = pullqueue.request_pull(redis_client, "team/notebook:2", "launch:ann")
    assert other.queued and other.job != first.job
    assert redis_client.xlen(pullqueue.STREAM) == 2


@pytest.mark.parametrize("final", ["done", "failed"])
def test_a_request_after_the_pull_ended_queues_a_new_job(
    redis_client: redis_lib.Redis, final: str
) -> None:
    first = pullqueue.request_pull(redis_client, "team/notebook:1", "test")
    worker = Worker(pull_settings(), redis_client, NoEngine())
    deliver(redis_client, worker.name)
    worker._state(first.image, first.entry, state="pulling", percent="40.0", done="400")
    joined = pullqueue.request_pull(redis_client, "team/notebook:1", "test")
    assert not joined.queued and joined.job == first.job  # joins the pull under way
    worker._state(first.image, first.entry, state=final, error="boom", error_kind="engine")
    again = pullqueue.request_pull(redis_client, "team/notebook:1", "test")
    assert again.queued and again.job != first.job and again.entry != first.entry
    state = state_of(redis_client, "team/notebook:1")
    # A fresh record: nothing of the last pull's progress or error.
    assert (state.state, state.job, state.percent, state.done, state.error) == (
        "queued",
        again.job,
        0.0,
        0,
        "",
    )


def test_a_state_whose_entry_vanished_does_not_block_a_new_job(
    redis_client: redis_lib.Redis,
) -> None:
    first = pullqueue.request_pull(redis_client, "team/notebook:1", "test")
    assert redis_client.xdel(pullqueue.STREAM, first.entry) == 1  # trimmed, or by hand
    assert state_of(redis_client, "team/notebook:1").state == "queued"
    again = pullqueue.request_pull(redis_client, "team/notebook:1", "test")
    assert again.queued and again.job != first.job
    entries: Any = redis_client.xrange(pullqueue.STREAM)
    assert [entry for entry, _ in entries] == [again.entry]


def test_concurrent_requests_make_exactly_one_job(redis_client: redis_lib.Redis) -> None:
    threads_count = 24
    barrier = threading.Barrier(threads_count)
    results: list[pullqueue.Requested] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def ask(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            got = pullqueue.request_pull(
                redis_client, "team/notebook" if number % 2 else "team/notebook:latest", "t"
            )
            with lock:
                results.append(got)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(results) == threads_count
    assert sum(r.queued for r in results) == 1
    assert len({r.job for r in results}) == 1 and len({r.entry for r in results}) == 1
    assert redis_client.xlen(pullqueue.STREAM) == 1


def test_ensure_group_reads_entries_queued_before_it(redis_client: redis_lib.Redis) -> None:
    entry = redis_client.xadd(pullqueue.STREAM, {"job": "early"})
    pullqueue.ensure_group(redis_client)
    pullqueue.ensure_group(redis_client)  # again: no BUSYGROUP error
    got: Any = redis_client.xreadgroup(pullqueue.GROUP, "c", {pullqueue.STREAM: ">"}, count=5)
    assert [e for e, _ in got[0][1]] == [entry]


def test_ensure_group_raises_other_errors(redis_client: redis_lib.Redis) -> None:
    redis_client.set(pullqueue.STREAM, "not a stream")
    with pytest.raises(redis_lib.ResponseError, match="WRONGTYPE"):
        pullqueue.ensure_group(redis_client)


def test_live_workers(redis_client: redis_lib.Redis) -> None:
    pullqueue.seen(redis_client, "fresh")
    redis_client.zadd(pullqueue.WORKERS, {"quiet": time.time() - 120})
    redis_client.zadd(pullqueue.WORKERS, {"ancient": time.time() - 2 * 86400})
    assert pullqueue.live_workers(redis_client) == ["fresh"]
    assert sorted(pullqueue.live_workers(redis_client, within=300)) == ["fresh", "quiet"]
    pullqueue.seen(redis_client, "fresh")  # forgets workers gone for a day
    assert redis_client.zscore(pullqueue.WORKERS, "ancient") is None
    assert redis_client.zscore(pullqueue.WORKERS, "quiet") is not None


# -- the worker's dead letters ---------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"job": "../../etc", "image": "UPPER/case:x"},
        {"job": "not-a-job-id", "image": "team/notebook:1"},
        {"job": "0" * 32},
        {"job": "0" * 32, "image": "team/notebook:1", "requested_at": "yesterday"},
        {"job": "j" * 5000, "image": "team/notebook:1"},
    ],
)
def test_a_malformed_entry_is_dead_lettered_without_the_engine(
    redis_client: redis_lib.Redis, fields: dict[str, str]
) -> None:
    engine = NoEngine()
    worker = Worker(pull_settings(), redis_client, engine)
    entry = redis_client.xadd(pullqueue.STREAM, dict(fields))  # type: ignore[arg-type]
    assert worker.step() is True
    assert engine.calls == 0
    dead = dead_letters(redis_client)
    assert len(dead) == 1
    letter = dead[0]
    assert letter["error_kind"] == "malformed"
    assert letter["error"].startswith("Not a pull job: ")
    assert letter["entry"] == entry and letter["deliveries"] == "1"
    assert letter["worker"] == "test-worker" and float(letter["failed_at"]) > 0
    for name, value in fields.items():
        assert letter[name] == value[:1000]  # the job's own fields, cut short
    # Acknowledged and deleted: not delivered again, to anyone.
    assert redis_client.xlen(pullqueue.STREAM) == 0
    pending: Any = redis_client.xpending(pullqueue.STREAM, pullqueue.GROUP)
    assert pending["pending"] == 0
    assert worker.step() is False
    assert engine.calls == 0
    assert pullqueue.live_workers(redis_client) == ["test-worker"]


def test_a_job_delivered_too_often_is_given_up_as_worker_lost(
    redis_client: redis_lib.Redis,
) -> None:
    engine = NoEngine()
    worker = Worker(pull_settings(max_deliveries=3), redis_client, engine)
    requested = pullqueue.request_pull(redis_client, "team/lost", "launch:ann")
    # Three workers took it in turn and stopped answering.
    got: Any = redis_client.xreadgroup(pullqueue.GROUP, "ghost-1", {pullqueue.STREAM: ">"})
    assert got[0][1][0][0] == requested.entry
    claimed: Any = redis_client.xclaim(
        pullqueue.STREAM, pullqueue.GROUP, "ghost-2", 0, [requested.entry]
    )
    assert claimed[0][0] == requested.entry
    auto: Any = redis_client.xautoclaim(
        pullqueue.STREAM, pullqueue.GROUP, "ghost-3", min_idle_time=0, start_id="0-0"
    )
    assert auto[1][0][0] == requested.entry
    assert pending_deliveries(redis_client, requested.entry) == 3
    assert worker.step() is False  # not idle long enough yet: not taken over
    time.sleep(0.25)
    assert worker.step() is True  # the fourth delivery
    assert engine.calls == 0
    [letter] = dead_letters(redis_client)
    assert letter["error_kind"] == "worker-lost"
    assert letter["deliveries"] == "4" and letter["job"] == requested.job
    assert letter["image"] == "team/lost:latest" and letter["entry"] == requested.entry
    assert "gave up pulling team/lost:latest after 3 tries" in letter["error"]
    assert "each time the worker pulling it stopped" in letter["error"]
    assert "Ask your administrator" in letter["error"]
    state = state_of(redis_client, "team/lost")
    assert (state.state, state.error_kind, state.error) == (
        "failed",
        "worker-lost",
        letter["error"],
    )
    assert state.finished_at > 0
    events: Any = redis_client.xrevrange(pullqueue.events_key("team/lost:latest"), count=1)
    assert events[0][1]["state"] == "failed"
    assert redis_client.xlen(pullqueue.STREAM) == 0
    pending: Any = redis_client.xpending(pullqueue.STREAM, pullqueue.GROUP)
    assert pending["pending"] == 0


def test_the_last_delivery_tries_and_the_next_gives_up_with_its_error(
    redis_client: redis_lib.Redis,
) -> None:
    engine = NoEngine()
    worker = Worker(pull_settings(max_deliveries=2), redis_client, engine)
    requested = pullqueue.request_pull(redis_client, "team/notebook:1", "test")
    redis_client.xreadgroup(pullqueue.GROUP, "ghost", {pullqueue.STREAM: ">"})
    time.sleep(0.25)
    # Delivery 2 of 2: still tried. The engine cannot be reached (a transient error): the
    # job stays pending, the state says why.
    assert worker.step() is True
    assert engine.calls == 1
    state = state_of(redis_client, "team/notebook:1")
    assert (state.state, state.error_kind, state.attempt) == ("retrying", "engine", 2)
    assert "could not be reached while pulling team/notebook:1" in state.error
    assert dead_letters(redis_client) == []
    assert pending_deliveries(redis_client, requested.entry) == 2
    time.sleep(0.25)
    # Delivery 3: given up, with the last error recorded, and the engine left alone.
    assert worker.step() is True
    assert engine.calls == 1
    [letter] = dead_letters(redis_client)
    assert letter["error_kind"] == "engine" and letter["deliveries"] == "3"
    assert "gave up pulling team/notebook:1 after 2 tries; the last error: " in letter["error"]
    assert "could not be reached" in letter["error"]
    state = state_of(redis_client, "team/notebook:1")
    assert (state.state, state.error_kind) == ("failed", "engine")
    assert redis_client.xlen(pullqueue.STREAM) == 0


def test_giving_up_a_stale_entry_leaves_a_newer_jobs_state_alone(
    redis_client: redis_lib.Redis,
) -> None:
    worker = Worker(pull_settings(max_deliveries=1), redis_client, NoEngine())
    old = pullqueue.request_pull(redis_client, "team/notebook:1", "test")
    redis_client.xreadgroup(pullqueue.GROUP, "ghost", {pullqueue.STREAM: ">"})
    # The image got pulled after all (done is written whoever holds the entry)…
    worker._state(old.image, old.entry, owner=False, state="done")
    new = pullqueue.request_pull(redis_client, "team/notebook:1", "test")  # …and removed
    redis_client.xclaim(pullqueue.STREAM, pullqueue.GROUP, "ghost", 0, [new.entry])
    time.sleep(0.25)
    assert worker.step() is True  # the old entry, on its third delivery
    dead = dead_letters(redis_client)
    assert [d["job"] for d in dead] == [old.job]
    assert dead[0]["error_kind"] == "worker-lost"
    state = state_of(redis_client, "team/notebook:1")
    assert (state.job, state.state, state.error) == (new.job, "queued", "")


# -- pagletto's settings --------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = load_settings({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.claim_idle, settings.max_deliveries, settings.retries) == (60.0, 5, 3)
    assert (settings.backoff, settings.backoff_max) == (2.0, 60.0)
    assert settings.auth == {} and settings.auth_file == ""
    assert settings.worker and settings.worker.endswith(f"-{os.getpid()}")


def test_settings_from_the_environment(tmp_path: Path) -> None:
    auth = tmp_path / "config.json"
    auth.write_text(json.dumps({"auths": {"registry.example.com": {"auth": "dTpw"}}}))
    settings = load_settings(
        {
            "NEXTPYTER_REDIS_URL": "unix:///run/redis.sock",
            "NEXTPYTER_PULL_WORKER_NAME": "puller-1",
            "NEXTPYTER_PULL_CLAIM_IDLE": "2.5",
            "NEXTPYTER_PULL_MAX_DELIVERIES": "7",
            "NEXTPYTER_PULL_RETRIES": "0",
            "NEXTPYTER_PULL_BACKOFF": "5",
            "NEXTPYTER_PULL_BACKOFF_MAX": "1",  # below the first wait: raised to it
            "NEXTPYTER_REGISTRY_AUTH": str(auth),
        }
    )
    assert settings.redis_url == "unix:///run/redis.sock" and settings.worker == "puller-1"
    assert (settings.claim_idle, settings.max_deliveries, settings.retries) == (2.5, 7, 0)
    assert (settings.backoff, settings.backoff_max) == (5.0, 5.0)
    assert settings.auth["auths"]["registry.example.com"]["auth"] == "dTpw"
    assert settings.auth_file == str(auth)


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("PULL_CLAIM_IDLE", "soon", "is not a number"),
        ("PULL_CLAIM_IDLE", "0.1", "out of range"),
        ("PULL_CLAIM_IDLE", "-5", "out of range"),
        ("PULL_MAX_DELIVERIES", "2.5", "is not a whole number"),
        ("PULL_MAX_DELIVERIES", "0", "out of range"),
        ("PULL_RETRIES", "many", "is not a whole number"),
        ("PULL_RETRIES", "101", "out of range"),
        ("PULL_BACKOFF", "1e9", "out of range"),
        ("PULL_BACKOFF_MAX", "forever", "is not a number"),
        ("PULL_WORKER_NAME", "w" * 101, "1-100 printable"),
        ("PULL_WORKER_NAME", "bad\nname", "1-100 printable"),
        ("REDIS_URL", "http://127.0.0.1:6379", "must start with"),
    ],
)
def test_settings_refuse_bad_values(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as caught:
        load_settings({f"NEXTPYTER_{name}": value})
    assert f"NEXTPYTER_{name}" in str(caught.value)


SECRET = "c2VjcmV0LXVzZXI6aHVudGVyMi1kby1ub3QtbG9n"  # base64 of a user:password


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"auths": {"registry.example.com": {"auth": "' + SECRET + '"}', "is not JSON"),
        (SECRET, "is not JSON"),
        ('["' + SECRET + '"]', "has no 'auths' object"),
        ('{"auths": "' + SECRET + '"}', "has no 'auths' object"),
        ("null", "has no 'auths' object"),
        (b'\xff\xfe{"auths": "' + SECRET.encode() + b'"}', "is not JSON"),
    ],
)
def test_a_bad_registry_auth_file_is_named_but_never_quoted(
    tmp_path: Path, content: str | bytes, needle: str
) -> None:
    path = tmp_path / "config.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError, match=needle) as caught:
        load_settings({"NEXTPYTER_REGISTRY_AUTH": str(path)})
    message = str(caught.value)
    assert "NEXTPYTER_REGISTRY_AUTH" in message and str(path) in message
    assert SECRET not in message and SECRET[:12] not in message
    # Nor is the parser's error chained to it (a traceback would show its text).
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_an_unreadable_registry_auth_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it") as caught:
        load_settings({"NEXTPYTER_REGISTRY_AUTH": str(tmp_path / "missing.json")})
    assert "NEXTPYTER_REGISTRY_AUTH" in str(caught.value)
    assert "No such file" in str(caught.value)
    # A directory cannot be read as a file (permission bits do not stop root).
    with pytest.raises(ConfigError, match="cannot read it") as caught:
        load_settings({"NEXTPYTER_REGISTRY_AUTH": str(tmp_path)})
    assert "NEXTPYTER_REGISTRY_AUTH" in str(caught.value)


# -- the sidecar's follower ------------------------------------------------------------------


def test_follow_yields_each_change_as_it_happens_and_ends_when_done(
    redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Re-reads only every 30 s: a follower that finishes well before was woken by events.
    monkeypatch.setattr(pulls_module, "FOLLOW_BLOCK", 30.0)
    pulls = Pulls(redis_client)
    requested = pulls.request("team/notebook:1", "test")
    writer = puller(redis_client)
    steps: list[dict[str, str]] = [
        {"state": "pulling", "worker": "puller"},
        {"percent": "12.5", "done": str(MB), "total": str(8 * MB)},
        {"percent": "60.0", "done": str(6 * MB), "total": str(8 * MB)},
        {"state": "done", "percent": "100"},
    ]
    turn: queue.Queue[None] = queue.Queue()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for fields in steps:
                turn.get(timeout=20)
                time.sleep(0.2)  # the follower is blocked on the events stream by now
                writer._state(requested.image, requested.entry, updated=time.time(), **fields)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    seen: list[pullqueue.PullState] = []
    began = time.monotonic()
    for state in pulls.follow(requested, timeout=30):
        seen.append(state)
        turn.put(None)
    elapsed = time.monotonic() - began
    thread.join(timeout=10)
    assert not failures
    assert [s.state for s in seen] == ["queued", "pulling", "pulling", "pulling", "done"]
    assert [s.percent for s in seen] == [0.0, 0.0, 12.5, 60.0, 100.0]
    assert [s.percent for s in seen] == sorted(s.percent for s in seen)
    assert {s.job for s in seen} == {requested.job}
    assert describe(seen[2]) == "Downloading team/notebook:1: 1.0 MB of 8.0 MB (12 %)"
    # Woken by each change, not by the follower's periodic re-read (FOLLOW_BLOCK, 5 s).
    assert elapsed < 20


def test_follow_ends_on_failure(
    redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulls_module, "FOLLOW_BLOCK", 30.0)
    pulls = Pulls(redis_client)
    requested = pulls.request("team/notebook:1", "test")
    writer = puller(redis_client)
    why = "The image team/notebook:1 does not exist in docker.io."

    def fail() -> None:
        time.sleep(0.3)
        writer._state(
            requested.image, requested.entry, state="failed", error=why, error_kind="not-found"
        )

    thread = threading.Thread(target=fail, daemon=True)
    thread.start()
    began = time.monotonic()
    seen = list(pulls.follow(requested, timeout=30))
    thread.join(timeout=5)
    assert time.monotonic() - began < 20  # woken by the event, not the 30 s re-read
    assert [s.state for s in seen] == ["queued", "failed"]
    assert seen[-1].error_kind == "not-found" and describe(seen[-1]) == why


def test_follow_asks_again_when_the_record_is_gone(
    redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulls_module, "FOLLOW_BLOCK", 0.3)
    pulls = Pulls(redis_client)
    first = pulls.request("team/notebook:1", "test")
    pullqueue.seen(redis_client, "puller")
    writer = Worker(pull_settings(worker="puller"), redis_client, NoEngine())
    seen: list[pullqueue.PullState] = []
    for state in pulls.follow(first, timeout=30):
        seen.append(state)
        if len(seen) == 1:
            redis_client.delete(pullqueue.state_key(first.image))  # lost, as by a restart
        elif len(seen) == 2:
            deliver(redis_client, "puller")
            writer._state(state.image, state.entry, state="done", percent="100")
        assert len(seen) < 5
    assert [s.state for s in seen] == ["queued", "queued", "done"]
    assert seen[0].job == first.job and seen[1].job != first.job
    assert seen[2].job == seen[1].job
    entries: Any = redis_client.xrange(pullqueue.STREAM)
    assert entries[-1][0] == seen[1].entry
    assert entries[-1][1]["requested_by"] == "follower"


def test_follow_says_so_when_no_puller_runs(
    redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulls_module, "FOLLOW_BLOCK", 0.2)
    monkeypatch.setattr(pulls_module, "NO_WORKER_GRACE", 1.0)
    pulls = Pulls(redis_client)
    requested = pulls.request("team/notebook:1", "test")
    redis_client.zadd(pullqueue.WORKERS, {"long-gone": time.time() - 3600})
    began = time.monotonic()
    seen: list[pullqueue.PullState] = []
    with pytest.raises(PullTimeout) as caught:
        for state in pulls.follow(requested, timeout=30):
            seen.append(state)
    elapsed = time.monotonic() - began
    message = str(caught.value)
    assert "no image puller (pagletto) is running" in message
    assert "team/notebook:1" in message and "start pagletto" in message
    # Said after the grace, not at the timeout's end.
    assert 1.0 <= elapsed < 20
    assert [s.state for s in seen] == ["queued"]
    # The job stays queued for when a worker starts.
    assert redis_client.xlen(pullqueue.STREAM) == 1
    assert state_of(redis_client, "team/notebook:1").state == "queued"


def test_follow_times_out_when_a_puller_runs_but_the_pull_stalls(
    redis_client: redis_lib.Redis,
) -> None:
    pulls = Pulls(redis_client)
    requested = pulls.request("team/notebook:1", "test")
    pullqueue.seen(redis_client, "busy-puller")
    began = time.monotonic()
    with pytest.raises(PullTimeout) as caught:
        list(pulls.follow(requested, timeout=0.6))
    assert 0.5 <= time.monotonic() - began < 10
    message = str(caught.value)
    assert "team/notebook:1 was not downloaded in time" in message
    assert "no image puller" not in message


def test_follow_never_waits_past_its_deadline(redis_client: redis_lib.Redis) -> None:
    pulls = Pulls(redis_client)
    requested = pulls.request("team/notebook:1", "test")
    pullqueue.seen(redis_client, "busy-puller")  # a worker: only the deadline ends the wait
    timeout = 0.2
    hung = False
    for _ in range(5):
        outcome: list[str] = []

        def attempt(outcome: list[str]) -> None:
            follower = pulls.follow(requested, timeout=timeout)
            started = time.monotonic()
            next(follower)  # the follower's clock starts at once, before it reads Redis
            # Go on when about half a millisecond is left before its deadline.
            target = started + timeout - 0.0005
            while time.monotonic() < target:
                pass
            try:
                next(follower)
                outcome.append("yielded")
            except PullTimeout:
                outcome.append("timeout")
            except StopIteration:
                outcome.append("ended")

        thread = threading.Thread(target=attempt, args=(outcome,), daemon=True)
        thread.start()
        thread.join(timeout=timeout + 2)
        if thread.is_alive():
            hung = True
            # Release it: any event wakes the XREAD, and then its deadline has passed.
            redis_client.xadd(pullqueue.events_key(requested.image), {"state": "queued"})
            thread.join(timeout=10)
            break
        assert outcome == ["timeout"]
    assert not hung, "the follower waited past its deadline (XREAD BLOCK 0)"


def test_describe_each_state() -> None:
    image = "team/notebook:1"
    state = pullqueue.PullState
    assert "Waiting for the image puller" in describe(state(image, state="queued"))
    assert describe(state(image, state="pulling")) == f"Downloading {image}"
    assert (
        describe(state(image, state="pulling", done=2_500_000, total=10_000_000, percent=24.6))
        == f"Downloading {image}: 2.5 MB of 10.0 MB (25 %)"
    )
    retrying = describe(state(image, state="retrying", error="connection refused"))
    assert image in retrying and "connection refused" in retrying and "trying again" in retrying
    assert describe(state(image, state="done")) == f"Downloaded {image}"
    assert describe(state(image, state="failed", error="It failed.")) == "It failed."


def test_pulls_states_of_several_images(redis_client: redis_lib.Redis) -> None:
    pulls = Pulls(redis_client)
    pulls.request("team/a", "test")
    found = pulls.states(["team/a:latest", "team/b:latest"])
    assert found["team/b:latest"] is None
    a = found["team/a:latest"]
    assert a is not None and a.state == "queued"
    assert pulls.state("team/a") == a  # normalized on the way in


# -- the admin image API on the local backend ----------------------------------------------


def test_image_api_on_the_local_backend_is_a_conflict(client: Any, signing_key: Any) -> None:
    listing = client.get("/api/v1/images", headers=admin(signing_key))
    pulling = client.post(
        "/api/v1/images/pulls", json={"images": ["team/notebook:1"]}, headers=admin(signing_key)
    )
    for response in (listing, pulling):
        assert response.status_code == 409
        assert response.mimetype == "application/problem+json"
        body = response.json
        assert body["code"] == "no-images" and body["status"] == 409
        assert body["type"] == "urn:nextpyter:problem:no-images"
        assert "'local' backend" in body["detail"]
        assert "NEXTPYTER_BACKEND=docker" in body["detail"]
    # Nothing was queued.
    assert Pulls(sidecar_redis(client)).state("team/notebook:1") is None


def sidecar_redis(client: Any) -> redis_lib.Redis:
    found: redis_lib.Redis = client.application.extensions["nextpyter"].redis
    return found


def test_image_api_wants_an_admin(client: Any, signing_key: Any) -> None:
    for method, path in (("get", "/api/v1/images"), ("post", "/api/v1/images/pulls")):
        call = getattr(client, method)
        anonymous = call(path, json={"images": ["team/notebook:1"]})
        assert anonymous.status_code == 401
        assert anonymous.mimetype == "application/problem+json"
        assert anonymous.json["code"] == "auth-required"
        forged = mint_forged_admin()
        assert call(path, headers=forged).status_code == 401
        narrow = call(path, headers=admin(signing_key, scopes=("sessions:read",)))
        assert narrow.status_code == 403 and narrow.json["code"] == "scope-missing"


def mint_forged_admin() -> dict[str, str]:
    from devtools import services as devstack
    from nextpyter.sidecar.signing import mint_admin_token

    token = mint_admin_token(
        Ed25519PrivateKey.generate(),
        issuer=devstack.ISSUER,
        audience="nextpyter-sidecar",
        scopes=["admin"],
    )
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_token_is_single_use_on_the_image_api(client: Any, signing_key: Any) -> None:
    headers = admin(signing_key)
    assert client.get("/api/v1/images", headers=headers).status_code == 409
    assert client.get("/api/v1/images", headers=headers).status_code == 401


# -- the pagletto command ----------------------------------------------------------------


def _pagletto(redis_url: str, *args: str) -> Any:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXTPYTER_", "DOCKER_"))}
    env["NEXTPYTER_REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "nextpyter.pagletto", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pagletto_status_and_requeue(redis_service: Any, redis_client: redis_lib.Redis) -> None:
    pullqueue.request_pull(redis_client, "team/queued:1", "test")
    pullqueue.seen(redis_client, "worker-a")
    dead_id = redis_client.xadd(
        pullqueue.DEAD_STREAM,
        {"job": uuid.uuid4().hex, "image": "team/dead:2", "error": "gone", "error_kind": "x"},
    )
    status = _pagletto(redis_service.address, "status")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["queued"] == 1 and report["pending"] == 0
    assert [w["name"] for w in report["workers"]] == ["worker-a"]
    assert [(d["entry"], d["image"]) for d in report["dead"]] == [(dead_id, "team/dead:2")]
    # A dead letter's image goes back on the queue; an unknown entry is a clear refusal.
    again = _pagletto(redis_service.address, "requeue", dead_id)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["image"] == "team/dead:2"
    state = pullqueue.read_state(redis_client, "team/dead:2")
    assert state is not None and state.state == pullqueue.QUEUED
    assert redis_client.xlen(pullqueue.STREAM) == 2
    unknown = _pagletto(redis_service.address, "requeue", "1-1")
    assert unknown.returncode != 0 and "no dead letter '1-1'" in unknown.stderr
    garbage = _pagletto(redis_service.address, "requeue", "../x")
    assert garbage.returncode != 0 and "is not an entry id" in garbage.stderr
    assert redis_client.xlen(pullqueue.STREAM) == 2
    assert "Traceback" not in unknown.stderr + garbage.stderr


def test_pagletto_health_is_this_hosts_worker_being_seen(
    redis_service: Any, redis_client: redis_lib.Redis
) -> None:
    """`pagletto health`, the container's healthcheck: a worker of this host name (any pid)
    said it runs within 20 s; another host's worker does not count."""
    import socket

    redis_client.delete(pullqueue.WORKERS)
    pullqueue.seen(redis_client, "elsewhere-7")
    sick = _pagletto(redis_service.address, "health")
    assert sick.returncode != 0 and f"({socket.gethostname()}-*)" in sick.stderr
    assert "Traceback" not in sick.stderr
    pullqueue.seen(redis_client, f"{socket.gethostname()}-1")
    well = _pagletto(redis_service.address, "health")
    assert well.returncode == 0, well.stderr
    assert well.stdout.strip() == f"ok: {socket.gethostname()}-1"
    # Seen too long ago: not healthy any more.
    redis_client.zadd(pullqueue.WORKERS, {f"{socket.gethostname()}-1": 1.0})
    assert _pagletto(redis_service.address, "health").returncode != 0
    redis_client.delete(pullqueue.WORKERS)


def test_pagletto_refuses_bad_settings_with_the_variable_named(redis_service: Any) -> None:
    bad = _pagletto("ftp://nowhere", "status")
    assert bad.returncode != 0
    assert "NEXTPYTER_REDIS_URL must start with redis://" in bad.stderr
    away = _pagletto("redis://:hunter2@127.0.0.1:1/0", "status")
    assert away.returncode != 0 and "Redis (NEXTPYTER_REDIS_URL) failed" in away.stderr
    assert "hunter2" not in away.stderr
    assert "Traceback" not in bad.stderr + away.stderr


# -- who may write: only the worker that holds the entry -----------------------------------


def test_a_worker_whose_job_was_taken_over_writes_and_gives_up_nothing(
    redis_client: redis_lib.Redis,
) -> None:
    stale = Worker(pull_settings(worker="stale"), redis_client, NoEngine())
    rescuer = Worker(pull_settings(worker="rescuer"), redis_client, NoEngine())
    job = pullqueue.request_pull(redis_client, "team/notebook:1", "test")
    deliver(redis_client, "stale")
    stale._state(job.image, job.entry, state="pulling", percent="30.0", worker="stale")
    # "stale" stopped answering (lost Redis for a while); "rescuer" took the entry over.
    redis_client.xclaim(pullqueue.STREAM, pullqueue.GROUP, "rescuer", 0, [job.entry])
    rescuer._state(job.image, job.entry, state="pulling", percent="10.0", worker="rescuer")
    stale._state(job.image, job.entry, percent="35.0")  # back: its progress is ignored
    stale._give_up(
        job.entry,
        {"job": job.job, "image": job.image},
        pullqueue.Job(job.job, job.image, 0.0, "test"),
        "unauthorized",
        "its old credentials were refused",
        1,
    )
    state = state_of(redis_client, "team/notebook:1")
    assert (state.state, state.percent, state.worker, state.error) == (
        "pulling",
        10.0,
        "rescuer",
        "",
    )
    assert dead_letters(redis_client) == []
    pending: Any = redis_client.xpending_range(
        pullqueue.STREAM, pullqueue.GROUP, min=job.entry, max=job.entry, count=1
    )
    assert pending[0]["consumer"] == "rescuer"
    # The rescuer still can give it up.
    rescuer._give_up(
        job.entry,
        {"job": job.job, "image": job.image},
        pullqueue.Job(job.job, job.image, 0.0, "test"),
        "not-found",
        "no such image",
        2,
    )
    assert [d["error_kind"] for d in dead_letters(redis_client)] == ["not-found"]
    assert state_of(redis_client, "team/notebook:1").state == "failed"


def test_a_stalled_entry_behind_ten_live_pulls_is_found(redis_client: redis_lib.Redis) -> None:
    """XAUTOCLAIM looks at ten pending entries a call: the worker goes on from where it
    stopped instead of looking at the same ten live pulls again and again."""
    engine = NoEngine()
    worker = Worker(pull_settings(claim_idle=1.0), redis_client, engine)
    jobs = [pullqueue.request_pull(redis_client, f"team/n{i}:1", "test") for i in range(12)]
    redis_client.xreadgroup(pullqueue.GROUP, "gone", {pullqueue.STREAM: ">"}, count=12)
    time.sleep(1.2)
    # The first eleven are live pulls of another worker (just touched); the last is stalled.
    redis_client.xclaim(
        pullqueue.STREAM, pullqueue.GROUP, "busy", 0, [j.entry for j in jobs[:11]], justid=True
    )
    assert worker.step() is False  # ten live ones looked at, nothing to take yet
    assert worker.step() is True  # then the stalled one
    pending: Any = redis_client.xpending_range(
        pullqueue.STREAM, pullqueue.GROUP, min=jobs[11].entry, max=jobs[11].entry, count=1
    )
    assert pending[0]["consumer"] == worker.name and pending[0]["times_delivered"] == 2
    assert engine.calls == 1  # it tried to pull it


# -- long waits stay visible ---------------------------------------------------------------


def test_a_follower_says_no_puller_runs_when_the_only_worker_died_mid_pull(
    redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulls_module, "FOLLOW_BLOCK", 0.2)
    monkeypatch.setattr(pulls_module, "NO_WORKER_GRACE", 0.5)
    monkeypatch.setattr(pulls_module, "ALIVE", 0.3)
    pulls = Pulls(redis_client)
    requested = pulls.request("team/notebook:1", "test")
    writer = puller(redis_client)
    writer._state(requested.image, requested.entry, state="pulling", percent="43.0")
    began = time.monotonic()
    with pytest.raises(PullTimeout, match=r"no image puller \(pagletto\) is running"):
        for _ in pulls.follow(requested, timeout=30):
            pass
    assert time.monotonic() - began < 20  # not the whole timeout (30 s)


def test_a_follower_whose_job_entry_vanished_asks_again_but_never_repeats_a_finished_pull(
    redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulls_module, "FOLLOW_BLOCK", 0.2)
    pulls = Pulls(redis_client)
    pullqueue.seen(redis_client, "puller")
    first = pulls.request("team/notebook:1", "test")
    redis_client.xdel(pullqueue.STREAM, first.entry)  # trimmed by hand
    jobs = []
    for state in pulls.follow(first, timeout=30):
        jobs.append(state.job)
        if state.job != first.job:  # asked again: a new job, with an entry
            puller(redis_client)._state(state.image, state.entry, state="done", percent="100")
        assert len(jobs) < 10
    assert jobs[0] == first.job and jobs[-1] != first.job
    assert redis_client.xlen(pullqueue.STREAM) == 1
    # A pull that has ended is not queued again by a follower that finds no entry.
    again = pullqueue.request_pull(redis_client, "team/notebook:1", "follower", only_if_lost=True)
    assert not again.queued and again.job == jobs[-1]
    assert redis_client.xlen(pullqueue.STREAM) == 1


def test_a_launch_waiting_for_another_launchs_lock_keeps_saying_so(
    redis_client: redis_lib.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another launch of the user's server (waiting for a long pull) holds the lock: this
    one says "waiting" again and again, so its progress stream stays open, then gives up
    with a message."""
    from nextpyter.sidecar import launches
    from nextpyter.sidecar.runtime.base import ServerSpec
    from nextpyter.sidecar.runtime.local import LocalBackend
    from nextpyter.sidecar.store import LaunchEvents, spawn_lock

    monkeypatch.setattr(launches, "LOCK_HEARTBEAT", 0.2)
    monkeypatch.setattr(launches, "LOCK_GRACE", 0.0)
    launcher = launches.Launcher(
        LocalBackend(tmp_path / "run"),
        redis_client,
        "k" * 40,
        tmp_path,
        start_timeout=0.5,
        pull_timeout=0.5,
    )
    holder = spawn_lock(redis_client, "wanda")
    assert holder.acquire(blocking=False)
    try:
        launch = launches.Launch(id="l1", user_id="wanda", slug="wanda", url="/user/wanda/lab")
        spec = ServerSpec(
            user_id="wanda", slug="wanda", profile="default", files_dir=tmp_path, secret="s"
        )
        launcher._run(launch, spec)  # returns once it gives up
    finally:
        holder.release()
    events = [e for _, e in LaunchEvents(redis_client).since("l1")]
    states = [e["state"] for e in events]
    # Every 0.2 s for about a second: a handful, not a burst.
    assert 3 <= states.count("waiting") <= 8 and states[-1] == "failed", states
    assert "still running" in events[-1]["message"]


def test_settings_saved_under_looser_image_rules_keep_all_but_those_images(
    redis_client: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A configuration an older version stored (images its looser check let through) keeps
    its profiles and valid images, with a warning, instead of falling back to defaults."""
    from nextpyter.sidecar.config import Settings
    from nextpyter.sidecar.dynconfig import CONFIG_KEY, ConfigStore

    store = ConfigStore(redis_client, Settings("k" * 40, Path("/"), Path("/run"), "/j", "i"))
    stored = {
        "profiles": {"big": {"cpu": 4, "memory": "16g"}},
        "default_profile": "big",
        "allowed_images": ["team/nb:1", "team/nb:", "a..b"],
        "default_image": "team/nb:",
    }
    redis_client.set(CONFIG_KEY, json.dumps(stored))
    with caplog.at_level("WARNING"):
        first = store.get()
        store.get()
    assert first.allowed_images == ("team/nb:1",) and first.default_image == ""
    assert first.profiles["big"].cpu == 4 and first.default_profile == "big"
    warnings = [r for r in caplog.records if "not valid" in r.getMessage()]
    assert len(warnings) == 1  # once, not at every launch
    # Garbage of every kind falls back to the defaults, never an error.
    for garbage in ("{", "[]", '{"profiles": 3}', '{"allowed_images": 5, "default_image": null}'):
        redis_client.set(CONFIG_KEY, garbage)
        assert store.get() is store.fallback


def test_a_worker_that_stops_says_it_is_leaving(redis_client: redis_lib.Redis) -> None:
    worker = Worker(pull_settings(worker="leaving"), redis_client, NoEngine())
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    wait_for = time.monotonic() + 10
    while "leaving" not in pullqueue.live_workers(redis_client) and time.monotonic() < wait_for:
        time.sleep(0.05)
    assert "leaving" in pullqueue.live_workers(redis_client)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    # Still counted for RESTART_GRACE (it may be restarting), not for the whole ALIVE.
    assert "leaving" in pullqueue.live_workers(redis_client)
    gone_for = pullqueue.ALIVE - pullqueue.RESTART_GRACE
    assert "leaving" not in pullqueue.live_workers(redis_client, within=gone_for - 1)


def test_an_entry_with_thousands_of_fields_is_still_dead_lettered(
    redis_client: redis_lib.Redis,
) -> None:
    """Not written by NextPyter, and too big to pass whole to a Lua script: its dead letter
    keeps a bounded part of it, and the entry leaves the queue."""
    engine = NoEngine()
    worker = Worker(pull_settings(), redis_client, engine)
    pullqueue.ensure_group(redis_client)
    redis_client.xadd(pullqueue.STREAM, {f"f{n}": "x" * 10 for n in range(5000)})
    assert worker.step() is True
    [letter] = dead_letters(redis_client)
    assert letter["error_kind"] == "malformed"
    assert len(letter) < 40
    assert redis_client.xlen(pullqueue.STREAM) == 0 and engine.calls == 0


def test_a_launch_compares_images_as_they_are_pulled(
    tmp_path: Path, redis_client: redis_lib.Redis
) -> None:
    """The environment names "team/nb", the admin's list (in Redis, as PUT /config stores
    it) "team/nb:latest": one image, and the launch runs it as pulled ("team/nb:latest");
    another image is refused."""
    from nextpyter.sidecar.config import load_settings
    from nextpyter.sidecar.dynconfig import ConfigStore, Profile, RuntimeConfig
    from nextpyter.sidecar.launches import Launcher
    from nextpyter.sidecar.problems import Problem
    from nextpyter.sidecar.runtime.docker import DockerBackend

    from .test_config import env

    settings = load_settings(
        env(tmp_path, NEXTPYTER_BACKEND="docker", NEXTPYTER_DOCKER_IMAGE="team/nb")
    )
    assert settings.docker is not None
    backend = DockerBackend(settings.docker, tmp_path / "run")  # no engine call is made
    config = ConfigStore(redis_client, settings)
    launcher = Launcher(
        backend, redis_client, "k" * 40, tmp_path, 60, config=config, default_image="team/nb"
    )

    def spec_with(allowed: tuple[str, ...]) -> Any:
        config.put(
            RuntimeConfig(
                profiles={"default": Profile()}, default_profile="default", allowed_images=allowed
            )
        )
        return launcher._spec("ann", "ann", "default", tmp_path)

    assert spec_with(("team/nb:latest",)).image == "team/nb:latest"
    with pytest.raises(Problem) as refused:
        spec_with(("team/other:1",))
    assert refused.value.status == 403


def test_the_stall_timeout_setting() -> None:
    assert load_settings({}).stall == 300.0
    assert load_settings({"NEXTPYTER_PULL_STALL_TIMEOUT": "2.5"}).stall == 2.5
    for bad in ("0", "-1", "soon", "1e9"):
        with pytest.raises(ConfigError, match="NEXTPYTER_PULL_STALL_TIMEOUT"):
            load_settings({"NEXTPYTER_PULL_STALL_TIMEOUT": bad})


def test_a_worker_on_a_fresh_redis_makes_the_group_itself(redis_client: redis_lib.Redis) -> None:
    worker = Worker(pull_settings(), redis_client, NoEngine())
    assert worker.step() is False  # no stream, no group yet: made, and nothing to do
    groups: Any = redis_client.xinfo_groups(pullqueue.STREAM)
    assert [g["name"] for g in groups] == [pullqueue.GROUP]
