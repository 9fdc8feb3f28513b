"""pagletto's worker on a real Redis, without an engine: dead letters, takeovers, stalled
entries, a worker that leaves. The worker paths tested here must never reach an engine;
the pulls themselves, on a real registry and engine, are in tests/system/."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis as redis_lib

from nextpyter import pullqueue
from nextpyter.pagletto.worker import Worker
from tests.support.pulls import NoEngine, deliver, pull_settings, state_of


def pending_deliveries(client: redis_lib.Redis, entry: str) -> int:
    found: Any = client.xpending_range(
        pullqueue.STREAM, pullqueue.GROUP, min=entry, max=entry, count=1
    )
    return int(found[0]["times_delivered"]) if found else 0


def dead_letters(client: redis_lib.Redis) -> list[dict[str, str]]:
    entries: Any = client.xrange(pullqueue.DEAD_STREAM)
    return [fields for _, fields in entries]


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


def test_a_worker_on_a_fresh_redis_makes_the_group_itself(redis_client: redis_lib.Redis) -> None:
    worker = Worker(pull_settings(), redis_client, NoEngine())
    assert worker.step() is False  # no stream, no group yet: made, and nothing to do
    groups: Any = redis_client.xinfo_groups(pullqueue.STREAM)
    assert [g["name"] for g in groups] == [pullqueue.GROUP]
