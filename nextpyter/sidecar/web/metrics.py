"""``GET /metrics``: Prometheus metrics (nextpyter/sidecar/metrics.py), for a caller whose
API token has the ``metrics`` scope (or ``admin``); Prometheus sends it as
``authorization: {credentials_file: …}``. Not behind the gateway: scrape the sidecar's
own address. Also at ``/api/v1/metrics``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import redis
from flask import Blueprint, Response, g

from ... import pullqueue
from .. import metrics
from ..services import services
from . import api
from .authorize import authorize
from .bearer import require_scope

pages = Blueprint("metrics", __name__)


# The gateway's checks, timed and counted by answer (on the authorizer's blueprint, before
# its first registration: this module is imported first, by web.register).
@authorize.before_request
def _authorize_began() -> None:
    g.authorize_began = time.perf_counter()


@authorize.after_request
def _authorize_counted(response: Response) -> Response:
    began = g.pop("authorize_began", None)
    if began is not None:
        spent = time.perf_counter() - began
        metrics.safely(lambda: metrics.AUTHORIZE_SECONDS.observe(spent))
        metrics.count(metrics.AUTHORIZE, str(response.status_code))
    return response


def _servers() -> Iterator[tuple[str, str, int]]:
    svc = services()
    profiles = svc.config.get().profiles
    for server in svc.backend.list():
        if server.state != "running":
            continue
        image = server.detail if svc.backend.uses_images else ""
        profile = profiles.get(server.profile)
        yield server.profile, image, int(profile.gpu) if profile else 0


def queue_gauges(client: redis.Redis) -> tuple[int, int, float, int]:
    """The pull queue's depth, entries being pulled, oldest entry's age (s), dead letters."""
    pipe = client.pipeline(transaction=False)
    pipe.xlen(pullqueue.STREAM)
    pipe.xrange(pullqueue.STREAM, count=1)
    pipe.xlen(pullqueue.DEAD_STREAM)
    depth, first, dead = pipe.execute()
    pending = 0
    if depth:
        try:
            groups: Any = client.xinfo_groups(pullqueue.STREAM)
            pending = sum(int(g["pending"]) for g in groups if g["name"] == pullqueue.GROUP)
        except redis.ResponseError:  # no group yet
            pending = 0
    oldest = 0.0
    if first:
        seconds, _, _ = first[0][0].partition("-")
        now, _ = client.time()
        oldest = max(0.0, float(now) - int(seconds) / 1000)
    return int(depth), pending, round(oldest, 3), int(dead)


@pages.get("/metrics")
@require_scope("metrics")
def scrape() -> Response:
    return _scrape()


@api.get("/metrics")
@require_scope("metrics")
def api_metrics() -> Response:
    """The same, under the API's prefix (in the OpenAPI document)."""
    return _scrape()


def _scrape() -> Response:
    svc = services()
    started = time.monotonic()
    live = metrics.LiveCollector(_servers, lambda: queue_gauges(svc.redis))
    body, content_type = metrics.exposition(live)
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Scrape-Seconds"] = f"{time.monotonic() - started:.3f}"
    return response
