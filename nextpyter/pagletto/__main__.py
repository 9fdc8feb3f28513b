"""``pagletto``: run a pull worker, or look at the queue.

pagletto                 take pull jobs until SIGTERM (the default)
pagletto status          the queue, its workers, the dead-letter stream (JSON)
pagletto requeue ENTRY   queue a dead-lettered job's image again
pagletto health          exit 0 if this host's worker runs (a container's healthcheck)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
from typing import Any

import redis

from .. import pullqueue
from ..common import logs
from ..common.env import ConfigError
from ..common.redis import connect
from ..common.settings import text
from . import metrics
from .config import load_settings

HEALTHY_WITHIN = 20.0  # workers say they run every 2 s, and every 10 s at most while pulling


def _health(client: Any, worker: str) -> None:
    """Exit 0 if this container's worker (this host name's, or the one named by
    NEXTPYTER_PULL_WORKER_NAME) said it runs in the last :data:`HEALTHY_WITHIN` seconds."""
    named = bool(os.environ.get("NEXTPYTER_PULL_WORKER_NAME"))
    prefix = f"{socket.gethostname()}-"
    for name in pullqueue.live_workers(client, within=HEALTHY_WITHIN):
        if (name == worker) if named else name.startswith(prefix):
            print(f"ok: {name}")
            return
    sys.exit(
        f"pagletto: no worker of this container ({worker if named else prefix + '*'}) has "
        f"been seen in the last {HEALTHY_WITHIN:g} s; see its log"
    )


def _inspect(client: Any, args: argparse.Namespace) -> None:
    if args.command == "health":
        _health(client, args.worker)
        return
    if args.command == "status":
        print(json.dumps(pullqueue.queue_status(client), indent=2))
        return
    if not re.fullmatch(r"[0-9]{1,20}-[0-9]{1,20}", args.entry):
        sys.exit(f"pagletto: {args.entry[:40]!r} is not an entry id (like 1700000000000-0)")
    letter = pullqueue.dead_letter(client, args.entry)
    if letter is None:
        sys.exit(f"pagletto: no dead letter {args.entry!r}; see `pagletto status`")
    try:
        requested = pullqueue.request_pull(client, letter.get("image", ""), "requeue")
    except pullqueue.InvalidImage as error:
        sys.exit(f"pagletto: that job names no image to pull ({error})")
    print(json.dumps({"image": requested.image, "job": requested.job}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pagletto", description="NextPyter's image puller")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="take pull jobs until stopped (the default)")
    sub.add_parser("status", help="print the queue, its workers and the dead letters")
    sub.add_parser("health", help="exit 0 if this host's worker runs (container healthchecks)")
    requeue = sub.add_parser("requeue", help="queue a dead-lettered job's image again")
    requeue.add_argument("entry", help="the dead letter's entry id (see `pagletto status`)")
    args = parser.parse_args(argv)
    try:
        level = logs.level()
        logs.log_format()
    except ConfigError as error:
        sys.exit(f"pagletto: {error}")
    logs.configure(level)
    try:
        settings = load_settings()
        client = connect(settings.redis_url)  # and the sentinels, passwords, TLS files
        metrics_at = metrics.parse_address(text(os.environ, "PULL_METRICS_ADDR"))
    except ConfigError as error:
        sys.exit(f"pagletto: {error}")
    if args.command in ("status", "requeue", "health"):
        args.worker = settings.worker
        try:
            _inspect(client, args)
        except redis.RedisError as error:  # not the URL: it may hold a password
            sys.exit(f"pagletto: Redis (NEXTPYTER_REDIS_URL) failed: {error}")
        return

    from ..common.engine import connect_engine
    from .worker import Worker

    stop = threading.Event()

    def on_signal(number: int, _frame: Any) -> None:
        if stop.is_set():  # a second signal: stop now; the pull is taken over by another
            sys.exit(1)
        logging.getLogger("pagletto").info(
            "stopping after the pull under way (signal again to stop now)"
        )
        stop.set()

    try:
        metrics.serve(metrics_at)
    except OSError as error:
        sys.exit(f"pagletto: NEXTPYTER_PULL_METRICS_ADDR: cannot listen there: {error}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if settings.auth_file:
        logging.getLogger("pagletto").info(
            "registry credentials from %s for: %s",
            settings.auth_file,
            ", ".join(sorted(settings.auth.get("auths", {}))) or "no registry",
        )
    Worker(settings, client, lambda: connect_engine(os.environ)).run(stop)


if __name__ == "__main__":
    main()
