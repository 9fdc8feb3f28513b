"""The sidecar's follower of a pull (nextpyter/sidecar/pulls.py) on a real Redis: each change
as it happens, failures, lost records and workers, deadlines. No engine is involved."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest
import redis as redis_lib

from nextpyter import pullqueue
from nextpyter.pagletto.worker import Worker
from nextpyter.sidecar import pulls as pulls_module
from nextpyter.sidecar.pulls import Pulls, PullTimeout, describe
from tests.support.pulls import MB, NoEngine, deliver, pull_settings, state_of


def puller(client: redis_lib.Redis) -> Worker:
    """A live worker, "puller", holding the queued entries: what writes progress in the
    follower's tests (through the worker's own state writes)."""
    pullqueue.seen(client, "puller")
    deliver(client, "puller")
    return Worker(pull_settings(worker="puller"), client, NoEngine())


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


def test_pulls_states_of_several_images(redis_client: redis_lib.Redis) -> None:
    pulls = Pulls(redis_client)
    pulls.request("team/a", "test")
    found = pulls.states(["team/a:latest", "team/b:latest"])
    assert found["team/b:latest"] is None
    a = found["team/a:latest"]
    assert a is not None and a.state == "queued"
    assert pulls.state("team/a") == a  # normalized on the way in


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
