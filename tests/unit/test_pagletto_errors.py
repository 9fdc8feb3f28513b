"""What the engine says about a failed pull, as an error a person can act on (classify)."""

from __future__ import annotations

import pytest

from nextpyter import pullqueue
from nextpyter.pagletto.errors import classify


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
