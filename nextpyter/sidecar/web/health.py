"""Whether the sidecar runs (``/health``), whether it can serve (``/ready``: Redis and
the launch keys), and the OpenAPI document."""

from __future__ import annotations

from importlib import resources

from flask import Response, jsonify

from ..services import services
from . import api


@api.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@api.get("/ready")
def ready() -> Response:
    svc = services()
    checks: dict[str, str] = {}
    try:
        svc.redis.ping()
        checks["redis"] = "ok"
    except Exception as error:
        checks["redis"] = f"unreachable: {type(error).__name__}"
    try:
        svc.keys.ensure_loaded()
        count = len(svc.keys.kids())
        checks["jwks"] = f"ok ({count} keys)" if count else "no usable Ed25519 keys"
    except Exception as error:
        checks["jwks"] = f"unavailable: {type(error).__name__}"
    ok = all(v.startswith("ok") for v in checks.values())
    response = jsonify({"status": "ok" if ok else "unavailable", "checks": checks})
    response.status_code = 200 if ok else 503
    return response


@api.get("/openapi.json")
def openapi() -> Response:
    text = resources.files("nextpyter.sidecar").joinpath("openapi.json").read_text(encoding="utf-8")
    return Response(text, mimetype="application/json")
