"""The pull queue's protocol on a real Redis: one job per image, however many ask at once;
the consumer group; live workers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis as redis_lib

from nextpyter import pullqueue
from nextpyter.pagletto.worker import Worker
from tests.support.pulls import NoEngine, deliver, pull_settings, state_of


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
