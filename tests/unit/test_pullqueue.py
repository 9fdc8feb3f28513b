"""The pull queue's fields (nextpyter/pullqueue.py), parsed without Redis: jobs and states."""

from __future__ import annotations

import uuid

import pytest

from nextpyter import pullqueue


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
