"""A running sidecar (gunicorn) behind the gateway (nginx) on real Redis, and helpers to launch
through it and follow a launch's progress."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools import services as devstack
from nextpyter.sidecar.config import load_settings
from nextpyter.sidecar.runtime.local import LocalBackend
from nextpyter.sidecar.signing import mint_launch_token
from tests.support.need import require

EMPTY_NOTEBOOK = json.dumps(
    {
        "cells": [],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


@dataclass
class Stack:
    """A running sidecar (gunicorn) behind the gateway (nginx), on real Redis."""

    workdir: Path
    env: dict[str, str]
    data_dir: Path
    sidecar: devstack.Service
    gateway: devstack.Service
    key: Ed25519PrivateKey
    _docker_backend: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.gateway.address}"

    @property
    def sidecar_url(self) -> str:
        return f"http://{self.sidecar.address}"

    @property
    def backend(self) -> Any:
        """The stack's backend, as a second sidecar would see it (a LocalBackend, or a
        DockerBackend on the stack's engine)."""
        if self.env.get("NEXTPYTER_BACKEND") == "docker":
            if self._docker_backend is None:
                from nextpyter.sidecar.runtime.docker import DockerBackend, connect_engine

                settings = load_settings(self.env).docker
                assert settings is not None
                # As the sidecar finds its engine: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH.
                client = connect_engine(self.env)
                self._docker_backend = DockerBackend(
                    settings, Path(self.env["NEXTPYTER_RUNTIME_DIR"]), client=client
                )
            return self._docker_backend
        return LocalBackend(Path(self.env["NEXTPYTER_RUNTIME_DIR"]))

    def user(self, user_id: str, files: dict[str, str] | None = None) -> Path:
        return devstack.make_user(self.data_dir, user_id, files)

    def token(self, user_id: str, path: str = "", **claims: Any) -> str:
        return mint_launch_token(
            self.key,
            issuer=devstack.ISSUER,
            audience="nextpyter-sidecar",
            user_id=user_id,
            path=path,
            **claims,
        )

    def launch(self, user_id: str, path: str = "") -> tuple[str, dict[str, Any]]:
        """POST a launch token (JSON); return the session cookie and the launch."""
        response = requests.post(
            f"{self.url}/api/v1/launch", json={"token": self.token(user_id, path)}, timeout=30
        )
        assert response.status_code == 202, response.text
        cookie = response.headers["Set-Cookie"].split(";")[0]
        return cookie, response.json()

    def wait(self, launch: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
        """Follow the launch's server-sent events to its last event, reconnecting with
        Last-Event-ID when the stream is cut (a sidecar reload), as EventSource does."""
        last: dict[str, Any] = {}
        last_id = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                with requests.get(
                    f"{self.url}{launch['events']}", stream=True, timeout=timeout, headers=headers
                ) as r:
                    for line in r.iter_lines(decode_unicode=True):
                        if line.startswith("id: "):
                            last_id = line[4:]
                        elif line.startswith("data: "):
                            last = json.loads(line[6:])
                            if last.get("state") in {"ready", "failed"}:
                                return last
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                time.sleep(0.2)
        return last

    def get(
        self,
        path: str,
        cookie: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = {**({"Cookie": cookie} if cookie else {}), **(headers or {})}
        return requests.get(f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def jupyter_headers(self, slug: str, cookie: str) -> dict[str, str]:
        """Headers for a state-changing request to a Jupyter server, as JupyterLab sends
        them: the session cookie plus Jupyter's ``_xsrf`` cookie and header."""
        page = self.get(f"/user/{slug}/lab", cookie)
        xsrf = page.cookies.get("_xsrf")
        assert page.status_code == 200 and xsrf, "JupyterLab's page set no _xsrf cookie"
        return {"Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf}

    def stop_all(self) -> None:
        backend = self.backend
        for server in backend.list():
            backend.stop(server.slug)

    def close(self) -> None:
        """Stop the servers, the gateway and the sidecar (by pid)."""
        self.stop_all()
        self.gateway.stop()
        self.sidecar.stop()


def start_stack(
    workdir: Path, redis_address: str, jwks: Path, key: Ed25519PrivateKey, **env_overrides: str
) -> Stack:
    require("nginx")
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = devstack.sidecar_env(workdir, redis_address, data, jwks, **env_overrides)
    sidecar = devstack.start_sidecar(workdir, env)
    try:
        gateway = devstack.start_gateway(workdir, sidecar.address)
    except Exception:
        sidecar.stop()
        raise
    return Stack(workdir, env, data, sidecar, gateway, key)


def launch_events(url: str, timeout: float = 180) -> list[dict[str, Any]]:
    """Every progress event of a launch (its server-sent events at ``url``), to its last
    (ready or failed)."""
    seen: list[dict[str, Any]] = []
    with requests.get(url, stream=True, timeout=timeout) as answer:
        for line in answer.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if seen[-1].get("state") in {"ready", "failed"}:
                    break
    return seen


def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
