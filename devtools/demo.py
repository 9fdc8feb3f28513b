"""`make demo`: the whole launch path on this machine, with the local backend
(`make demo-docker`: with the docker backend, on a private Docker engine).

Starts Redis, the sidecar (gunicorn) and the gateway (nginx), makes a demo user
with a notebook in a data directory laid out like Nextcloud's, and prints one
URL that opens it in JupyterLab. Ctrl-C stops everything it started, by pid.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from nextpyter.sidecar.runtime import Backend
from nextpyter.sidecar.runtime.local import LocalBackend
from nextpyter.sidecar.slugs import slug_for

from . import services as devstack

WELCOME = {
    "cells": [
        {
            "cell_type": "markdown",
            "id": "welcome",
            "metadata": {},
            "source": [
                "# Welcome to NextPyter\n",
                "\n",
                "This notebook lives in the demo user's Nextcloud files "
                "(`.demo/data/demo/files/Welcome.ipynb`). Run the cell below with **Shift+Enter**; "
                "save with **Ctrl+S** and the change is on disk, where Nextcloud sees it.",
            ],
        },
        {
            "cell_type": "code",
            "id": "first-cell",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": [
                "import platform, os\n",
                "print(f'Python {platform.python_version()} in {os.getcwd()}')",
            ],
        },
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def main() -> None:
    workdir = Path(os.environ.get("NEXTPYTER_DEMO_DIR", ".demo")).resolve()
    port = int(os.environ.get("NEXTPYTER_DEMO_PORT", "8080"))
    workdir.mkdir(exist_ok=True)
    data = workdir / "data"
    files = devstack.make_user(data, "demo")
    if not (files / "Welcome.ipynb").exists():
        (files / "Welcome.ipynb").write_text(json.dumps(WELCOME, indent=1))
    pem, jwks = devstack.make_keys(workdir)
    started: list[devstack.Service] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    use_docker = os.environ.get("NEXTPYTER_DEMO_BACKEND", "local") == "docker"
    backend: Backend | None = None if use_docker else LocalBackend(workdir / "run")
    engine: Any = None
    extra: dict[str, str] = {}
    try:
        if use_docker:
            backend, engine, extra = _docker(workdir, files)
        redis = devstack.start_redis(workdir / "redis")
        started.append(redis)
        if engine is not None:  # the image puller, as a deployment runs it beside the sidecar
            started.append(devstack.start_pagletto(workdir, redis.address, engine.url, "demo"))
        env = devstack.sidecar_env(
            workdir,
            redis.address,
            data,
            jwks,
            NEXTPYTER_DEV_SIGNING_KEY=str(pem),
            # The demo is plain HTTP, possibly reached by an address other than localhost:
            # a Secure cookie would not be sent back. Production keeps the default (true).
            NEXTPYTER_COOKIE_SECURE="false",
            **extra,
        )
        sidecar = devstack.start_sidecar(workdir, env)
        started.append(sidecar)
        gateway = devstack.start_gateway(workdir, sidecar.address, port=port)
        started.append(gateway)
        url = f"http://localhost:{port}/dev/open?user=demo&path=Welcome.ipynb"
        print(
            "\nNextPyter demo is running (Redis, sidecar, gateway; "
            f"{'docker backend, pagletto' if use_docker else 'local backend'}).\n\n"
            f"  Open this URL in a browser on this machine:\n\n    {url}\n\n"
            f"  Files of the demo user: {files}\n"
            f"  Logs: {workdir}/sidecar.log, {workdir}/nginx/logs/, "
            + (
                f"`docker -H {engine.url} logs nextpyter-{slug_for('demo')}`, "
                f"{workdir}/pagletto-demo.log\n\n"
                if engine is not None
                else f"{workdir}/run/servers/<user>/server.log\n\n"
            )
            + "Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        stop.wait()
    except KeyboardInterrupt:
        pass
    except (devstack.ServiceError, RuntimeError) as error:
        print(f"demo: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        print("\nstopping…", flush=True)
        if backend is not None:
            for server in backend.list():
                backend.stop(server.slug)
        for service in reversed(started):
            service.stop()
        if engine is not None:
            engine.stop()
        print("stopped.")


def _docker(workdir: Path, files: Path) -> tuple[Backend, Any, dict[str, str]]:
    """A private Docker engine, the Jupyter image (built on first use) and the docker
    backend's settings; the demo user's files belong to the notebook uid (33)."""
    from nextpyter.sidecar.config import DockerSettings
    from nextpyter.sidecar.runtime.docker import DockerBackend

    from .engine import start_engine
    from .images import jupyter_image

    print("starting a private Docker engine…", flush=True)
    # In a network namespace of its own, with its firewall and NextPyter's egress rules:
    # the machine's own network and firewall stay as they are.
    engine = start_engine(isolated=True)
    try:
        print("building the Jupyter image (the first time takes about a minute)…", flush=True)
        image = jupyter_image(engine.client())
        for path in (files.parent, files, *files.rglob("*")):
            os.chown(path, 33, 33)
        backend = DockerBackend(DockerSettings(image=image), workdir / "run", engine.client())
    except Exception:
        engine.stop()
        raise
    env = {
        "NEXTPYTER_BACKEND": "docker",
        "NEXTPYTER_DOCKER_IMAGE": image,
        "DOCKER_HOST": engine.url,
    }
    return backend, engine, env


if __name__ == "__main__":
    main()
