"""``GET /api/v1/cull``: what the culler would stop now, and why (a dry run: nothing is
stopped). Needs the ``admin`` scope."""

from __future__ import annotations

import time

from flask import Response, jsonify

from ..culler import Culler
from ..services import services
from . import api
from .bearer import require_scope


@api.get("/cull")
@require_scope("admin")
def cull_plan() -> Response:
    svc = services()
    config = svc.config.get()
    culler = Culler(svc.backend, svc.redis, svc.config, svc.settings.secret_key)
    now = time.time()
    return jsonify(
        {
            "at": round(now, 3),
            "idle_timeout": config.idle_timeout,
            "max_lifetime": config.max_lifetime,
            "would_stop": culler.plan(now),
        }
    )
