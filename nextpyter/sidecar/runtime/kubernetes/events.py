"""What a starting pod says, as a person reads it: pure functions from the API's JSON.

Two sources, both told by watches (never polled): the pod's events (the scheduler's and
the kubelet's: Scheduled, Pulling, Pulled, Created, Started, and the warnings), and the
pod itself (its PodScheduled condition, its containers' states). Each becomes a progress
message, a terminal :class:`Failure` (the launch ends at once, with the cause and what to
do), or nothing. Only conditions that never heal by waiting are terminal: an image the
kubelet cannot pull (ErrImagePull, ImagePullBackOff, InvalidImageName), a container it
cannot configure (CreateContainerConfigError, CreateContainerError), a pod no node can take
(Unschedulable, with the scheduler's reason), a container that ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .objects import CONTAINER

MAX_MESSAGE = 400
PROGRESS_REASONS = frozenset({"Scheduled", "Pulling", "Pulled", "Created", "Started"})
PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                           "ErrImageNeverPull", "RegistryUnavailable"})  # fmt: skip
CONFIG_FAILURES = frozenset({"CreateContainerConfigError", "CreateContainerError",
                             "RunContainerError", "PreCreateHookError"})  # fmt: skip
ASK = "If it keeps happening, show this message to your administrator."


@dataclass(frozen=True)
class Failure:
    """The launch cannot succeed; ``message`` says why and what to do."""

    message: str


def _clip(text: object) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _pull_failure(reason: str, message: str) -> Failure:
    return Failure(
        f"The cluster could not pull the server's image ({reason}: {_clip(message)}). Ask "
        "your administrator to check the image name in NextPyter's admin settings, that the "
        "registry is reachable from the nodes, and its credentials "
        "(NEXTPYTER_KUBE_IMAGE_PULL_SECRETS)."
    )


def _config_failure(reason: str, message: str) -> Failure:
    return Failure(
        f"Kubernetes could not create the server's container ({reason}: {_clip(message)}). "
        "Ask your administrator to check the image (it must run as a non-root user with "
        "jupyter on its PATH) and the namespace's policies."
    )


def unschedulable(message: str) -> Failure:
    return Failure(
        f"No node of the cluster can run your server now: {_clip(message)}. Try a smaller "
        "profile, or again later; if it keeps happening, ask your administrator (the "
        "cluster's capacity, NEXTPYTER_KUBE_NODE_SELECTOR and NEXTPYTER_KUBE_TOLERATIONS)."
    )


def from_event(event: Mapping[str, Any]) -> str | Failure | None:
    """A core/v1 Event about the pod: a progress message, a Failure, or None (not worth
    showing: it is a repeat, or a warning that may still heal, such as FailedMount)."""
    reason = str(event.get("reason") or "")
    message = _clip(event.get("message") or event.get("note") or "")
    if reason == "FailedScheduling":
        return unschedulable(message)
    if reason in PROGRESS_REASONS:
        return message or reason
    if reason in {"Failed", "BackOff"} and event.get("type") == "Warning":
        lowered = message.lower()
        if "pull" in lowered or "image" in lowered:
            return _pull_failure(reason, message)
        if reason == "Failed":
            return _config_failure(reason, message)
    if reason in {"FailedMount", "FailedAttachVolume"} and message:
        return f"Waiting for storage: {message}"
    return None


def _waiting(status: Mapping[str, Any]) -> tuple[str, str]:
    waiting = (status.get("state") or {}).get("waiting") or {}
    return str(waiting.get("reason") or ""), str(waiting.get("message") or "")


def _terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    terminated = (status.get("state") or {}).get("terminated")
    return terminated if isinstance(terminated, Mapping) else None


def from_pod(pod: Mapping[str, Any]) -> Failure | None:
    """A Failure when the pod can no longer become a serving server, else None."""
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return unschedulable(str(condition.get("message") or "no node fits"))
    for kind in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(kind) or []:
            reason, message = _waiting(container)
            if reason in PULL_FAILURES:
                return _pull_failure(reason, message)
            if reason in CONFIG_FAILURES:
                return _config_failure(reason, message)
            ended = _terminated(container)
            init = kind == "initContainerStatuses"
            if ended is not None and (not init or ended.get("exitCode") != 0):
                what = "handing the gateway's secret over" if init else "starting"
                return Failure(
                    f"The Jupyter server stopped while {what} (exit code "
                    f"{ended.get('exitCode')}, {ended.get('reason') or 'no reason given'}"
                    f"{': ' + _clip(ended.get('message')) if ended.get('message') else ''})."
                    f" {ASK}"
                )
    phase = status.get("phase")
    if phase in {"Failed", "Succeeded"}:
        return Failure(
            f"The server's pod ended ({phase}: {_clip(status.get('reason') or '')} "
            f"{_clip(status.get('message') or '')}). {ASK}".replace(" )", ")")
        )
    return None


def is_running(pod: Mapping[str, Any]) -> bool:
    """The pod runs its Jupyter container, has an address and is not being deleted."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        return False
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for container in status.get("containerStatuses") or []:
        if container.get("name") == CONTAINER:
            return bool((container.get("state") or {}).get("running"))
    return False
