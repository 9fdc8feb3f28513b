"""prometheus_client's multiprocess mode for nextpyter-sidecar under gunicorn: a private
directory for the workers' metric files, emptied at start, and gunicorn's ``child_exit``.

Kept apart from metrics.py, which imports prometheus_client: the directory must be in
``PROMETHEUS_MULTIPROC_DIR`` before that import, in the master (whose workers fork from
it) as in each worker.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_dir() -> Path:
    """The workers' metric directory: ``PROMETHEUS_MULTIPROC_DIR`` if the operator set one
    (emptied of an earlier run's files), else a new private one."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="nextpyter-metrics-"))
        os.environ[MULTIPROC_ENV] = str(path)
        master = os.getpid()

        def remove() -> None:  # when the master ends (a forked worker skips atexit)
            if os.getpid() == master:
                shutil.rmtree(path, ignore_errors=True)

        atexit.register(remove)
    return path


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's hook in the master when a worker has exited."""
    from .metrics import mark_process_dead

    mark_process_dead(worker.pid)
