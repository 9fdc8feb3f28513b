"""`make demo`: the whole launch path on this machine, with the local backend.

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

from . import devstack
from .runtime.local import LocalBackend

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
    backend = LocalBackend(workdir / "run")
    try:
        redis = devstack.start_redis(workdir / "redis")
        started.append(redis)
        env = devstack.sidecar_env(
            workdir,
            redis.address,
            data,
            jwks,
            NEXTPYTER_DEV_SIGNING_KEY=str(pem),
            # The demo is plain HTTP, possibly reached by an address other than localhost:
            # a Secure cookie would not be sent back. Production keeps the default (true).
            NEXTPYTER_COOKIE_SECURE="false",
        )
        sidecar = devstack.start_sidecar(workdir, env)
        started.append(sidecar)
        gateway = devstack.start_gateway(workdir, sidecar.address, port=port)
        started.append(gateway)
        url = f"http://localhost:{port}/dev/open?user=demo&path=Welcome.ipynb"
        print(
            "\nNextPyter demo is running (Redis, sidecar, gateway; local backend).\n\n"
            f"  Open this URL in a browser on this machine:\n\n    {url}\n\n"
            f"  Files of the demo user: {files}\n"
            f"  Logs: {workdir}/sidecar.log, {workdir}/nginx/logs/, "
            f"{workdir}/run/servers/<user>/server.log\n\n"
            "Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        stop.wait()
    except KeyboardInterrupt:
        pass
    except devstack.ServiceError as error:
        print(f"demo: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        print("\nstopping…", flush=True)
        for server in backend.list():
            backend.stop(server.slug)
        for service in reversed(started):
            service.stop()
        print("stopped.")


if __name__ == "__main__":
    main()
