"""What a starting pod says, classified: progress messages, terminal failures, nothing."""

from __future__ import annotations

from typing import Any

import pytest

from nextpyter.sidecar.runtime.kubernetes.events import Failure, from_event, from_pod, is_running


def event(reason: str, message: str, type: str = "Normal") -> dict[str, Any]:
    return {"reason": reason, "message": message, "type": type, "involvedObject": {"kind": "Pod"}}


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("Scheduled", "Successfully assigned nextpyter/nextpyter-alice to node-1"),
        ("Pulling", 'Pulling image "registry.test/lab:1"'),
        ("Pulled", 'Successfully pulled image "registry.test/lab:1" in 1.2s'),
        ("Created", "Created container jupyter"),
        ("Started", "Started container jupyter"),
    ],
)
def test_progress_events_pass_their_message(reason: str, message: str) -> None:
    assert from_event(event(reason, message)) == message


def test_failed_scheduling_ends_with_the_schedulers_reason() -> None:
    said = from_event(event("FailedScheduling", "0/3 nodes have a free nvidia.com/gpu", "Warning"))
    assert isinstance(said, Failure)
    assert "0/3 nodes have a free nvidia.com/gpu" in said.message
    assert "smaller profile" in said.message


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("Failed", 'Failed to pull image "x/y:1": not found'),
        ("Failed", "Error: ErrImagePull"),
        ("BackOff", 'Back-off pulling image "x/y:1"'),
    ],
)
def test_pull_failures_end_with_what_to_do(reason: str, message: str) -> None:
    said = from_event(event(reason, message, "Warning"))
    assert isinstance(said, Failure)
    assert "could not pull" in said.message and "NEXTPYTER_KUBE_IMAGE_PULL_SECRETS" in said.message


def test_a_config_error_event_ends_the_launch() -> None:
    said = from_event(event("Failed", "Error: CreateContainerConfigError", "Warning"))
    assert isinstance(said, Failure) and "could not create" in said.message


def test_storage_waits_are_shown_not_terminal() -> None:
    said = from_event(event("FailedMount", "MountVolume.SetUp failed for volume x", "Warning"))
    assert said == "Waiting for storage: MountVolume.SetUp failed for volume x"


@pytest.mark.parametrize("reason", ["SandboxChanged", "Killing", "BackOff", ""])
def test_other_events_say_nothing(reason: str) -> None:
    assert from_event(event(reason, "restarting failed container")) is None


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "nextpyter-alice"}, "status": status}


def waiting(reason: str, message: str = "", init: bool = False) -> dict[str, Any]:
    kind = "initContainerStatuses" if init else "containerStatuses"
    container = {"name": "jupyter", "state": {"waiting": {"reason": reason, "message": message}}}
    return pod(phase="Pending", **{kind: [container]})


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"])
def test_pull_failures_in_the_pod(reason: str) -> None:
    failure = from_pod(waiting(reason, "not found"))
    assert isinstance(failure, Failure) and reason in failure.message
    assert isinstance(from_pod(waiting(reason, init=True)), Failure)


def test_create_container_config_error() -> None:
    failure = from_pod(waiting("CreateContainerConfigError", 'secret "x" not found'))
    assert isinstance(failure, Failure) and 'secret "x" not found' in failure.message


def test_unschedulable_condition() -> None:
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
    }
    failure = from_pod(pod(phase="Pending", conditions=[condition]))
    assert isinstance(failure, Failure) and "Insufficient nvidia.com/gpu" in failure.message


def test_ended_containers_and_phases() -> None:
    ended = {"name": "jupyter", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    failure = from_pod(pod(phase="Failed", containerStatuses=[ended]))
    assert isinstance(failure, Failure) and "exit code 1" in failure.message
    init_ok = {"name": "secret", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    assert from_pod(pod(phase="Pending", initContainerStatuses=[init_ok])) is None
    init_bad = {"name": "secret", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    failure = from_pod(pod(phase="Pending", initContainerStatuses=[init_bad]))
    assert isinstance(failure, Failure) and "secret" in failure.message
    assert isinstance(from_pod(pod(phase="Succeeded")), Failure)


def test_waiting_that_heals_is_no_failure() -> None:
    assert from_pod(waiting("ContainerCreating")) is None
    assert from_pod(waiting("PodInitializing")) is None
    assert from_pod(pod(phase="Pending")) is None


def test_running_means_the_container_runs_with_an_address() -> None:
    running = {"name": "jupyter", "state": {"running": {"startedAt": "now"}}}
    assert is_running(pod(phase="Running", podIP="10.0.0.5", containerStatuses=[running]))
    assert not is_running(pod(phase="Running", containerStatuses=[running]))  # no IP yet
    assert not is_running(pod(phase="Pending", podIP="10.0.0.5", containerStatuses=[running]))
    deleting = pod(phase="Running", podIP="10.0.0.5", containerStatuses=[running])
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not is_running(deleting)
