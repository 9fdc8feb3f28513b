"""The kubernetes backend's contact with the API and the pods: the client (from a kubeconfig
or in the cluster), API failures as messages a person can act on, reading the API's JSON,
and one HTTP GET to a pod's Jupyter server."""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import kubernetes.client
import kubernetes.config
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ....common.env import ConfigError
from ....jupyter.upstream import HEADER as GATEWAY_HEADER
from ...kube_settings import KubernetesSettings
from ..base import BackendError
from .objects import PORT


def connect(settings: KubernetesSettings) -> kubernetes.client.ApiClient:
    """A client from the kubeconfig file, or in the cluster from the service account."""
    configuration = kubernetes.client.Configuration()
    try:
        if settings.kubeconfig:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=settings.kubeconfig, client_configuration=configuration
            )
        else:
            kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
    except (ConfigException, OSError, ValueError, TypeError) as error:
        where = settings.kubeconfig or "the in-cluster service account"
        raise ConfigError(
            f"The kubernetes backend cannot use {where} ({error}); set NEXTPYTER_KUBE_CONFIG "
            "to a kubeconfig file, or run the sidecar in the cluster with a service account"
        ) from None
    return kubernetes.client.ApiClient(configuration)


def said(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)


@contextlib.contextmanager
def api(passing: tuple[int, ...] = (404, 409)) -> Iterator[None]:
    """API calls: an answer with a status in ``passing`` is the caller's to handle; every
    other failure becomes a :class:`BackendError` a person can act on."""
    try:
        yield
    except ApiException as error:
        if error.status in passing:
            raise
        if error.status is None or error.status == 0:
            raise BackendError(unreachable(str(error.reason))) from None
        raise BackendError(
            f"The Kubernetes API refused ({error.status}): {said(error)}. If it keeps "
            "happening, ask your administrator to check the sidecar's Role."
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise BackendError(unreachable(str(error))) from None


def unreachable(detail: str) -> str:
    return (
        f"NextPyter cannot reach the Kubernetes API ({detail}). Try again in a minute; if it "
        "keeps happening, ask your administrator to check the cluster."
    )


def request_body(obj: dict[str, Any]) -> Any:
    """An object of objects.py as a request body (the client sends a dict as it is)."""
    return obj


def as_json(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response.data)
    return body


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def age(obj: Mapping[str, Any], now: float) -> float:
    stamp = str(meta(obj).get("creationTimestamp") or "")
    try:
        return now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")


def address(pod: Mapping[str, Any]) -> str:
    ip = str((pod.get("status") or {}).get("podIP") or "")
    return f"[{ip}]" if ":" in ip else ip


def http_get(host: str, path: str, timeout: float, secret: str = "") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(host.strip("[]"), PORT, timeout=timeout)
    try:
        connection.request("GET", path, headers={GATEWAY_HEADER: secret} if secret else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
