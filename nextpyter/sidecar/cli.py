"""Console entry points: ``nextpyter-sidecar`` (serve) and ``nextpyter-admin``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common import logs
from ..common.env import ConfigError
from .config import Settings, load_settings

if TYPE_CHECKING:
    from .apitokens import ApiTokens


def serve_main(argv: list[str] | None = None) -> None:
    """Run the sidecar under gunicorn (threaded workers: progress streams are long requests)."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    from ..common.redis import options as redis_options
    from .metrics_setup import child_exit, metrics_dir

    parser = argparse.ArgumentParser(prog="nextpyter-sidecar", description=serve_main.__doc__)
    parser.add_argument(
        "--bind",
        default=os.environ.get("NEXTPYTER_BIND", "127.0.0.1:8000"),
        help="address to listen on: host:port or unix:/path (NEXTPYTER_BIND)",
    )
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("NEXTPYTER_WORKERS", "2"))
    )
    parser.add_argument(
        "--threads", type=int, default=int(os.environ.get("NEXTPYTER_THREADS", "32"))
    )
    parser.add_argument("--pidfile", default=None)
    args = parser.parse_args(argv)
    try:
        level = logs.level()
        logs.log_format()
        load_settings()  # fail here, once, with the variable's name, not in every worker
        redis_options()
    except ConfigError as error:
        sys.exit(f"nextpyter-sidecar: configuration error: {error}")
    logs.configure(level)  # the master's, and (forked) every worker's
    metrics_dir()  # before prometheus_client is imported, in the master and every worker

    class SidecarLogger(Logger):  # type: ignore[misc]
        """gunicorn's error log (and access log, when on) in NextPyter's line format."""

        error_fmt = logs.FORMAT
        datefmt = None
        access_fmt = logs.FORMAT

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            logs.adopt(self.error_log, self.access_log)  # JSON lines, redaction

    from . import lifecycle

    class Sidecar(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": [args.bind],
                "workers": args.workers,
                "threads": args.threads,
                "worker_class": "gthread",
                "keepalive": 75,
                "timeout": 60,
                "graceful_timeout": 10,
                "accesslog": None,
                "pidfile": args.pidfile,
                "loglevel": level.lower(),
                "logger_class": SidecarLogger,
                # Each worker, once it has its app: reconcile, start the culler.
                "post_worker_init": lifecycle.post_worker_init,
                # A worker gone: its live metrics go with it (its counts stay).
                "child_exit": child_exit,
                # gunicorn 27's control socket lives in $HOME; the sidecar does not use it.
                "control_socket_disable": True,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from .app import create_app

            return create_app()

    Sidecar().run()


# -- nextpyter-admin: one function per command ------------------------------------------


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        sys.exit(f"nextpyter-admin: configuration error: {error}")


def _health(args: argparse.Namespace) -> None:
    import requests

    url = args.url
    try:
        response = requests.get(url, timeout=args.timeout)
    except requests.RequestException as error:
        sys.exit(f"nextpyter-admin: the sidecar at {url} did not answer ({type(error).__name__})")
    if response.status_code != 200:
        sys.exit(f"nextpyter-admin: the sidecar at {url} answered {response.status_code}")
    print("ok")


def _egress_rules(args: argparse.Namespace) -> None:
    from .runtime import egress

    if args.apply:
        egress.apply()
    else:
        print(egress.shell(), end="")


def _dev_keygen(args: argparse.Namespace) -> None:
    from .signing import generate_key

    pem, jwks = generate_key(args.directory)
    print(f"private key: {pem}\njwks: {jwks}")


def _mint_token(args: argparse.Namespace) -> None:
    from .signing import load_key, mint_launch_token

    if not args.issuer:
        sys.exit("nextpyter-admin: --issuer (or NEXTPYTER_TOKEN_ISSUER) is required")
    print(
        mint_launch_token(
            load_key(args.key),
            issuer=args.issuer,
            audience=args.audience,
            user_id=args.user,
            path=args.path,
            profile=args.profile,
            lifetime=args.lifetime,
        )
    )


def _sessions(args: argparse.Namespace) -> None:
    from .runtime import make_backend

    for server in make_backend(_settings()).list():
        print(json.dumps(server.to_dict()))


def _stop(args: argparse.Namespace) -> None:
    from .runtime import make_backend
    from .slugs import InvalidUserId, slug_for

    settings = _settings()
    try:
        slug = slug_for(args.user)
    except InvalidUserId as error:
        sys.exit(f"nextpyter-admin: {error}")
    found = make_backend(settings).stop(slug)
    print("stopped" if found else "no server was running")


def _api_tokens() -> ApiTokens:
    from ..common.redis import connect
    from .apitokens import ApiTokens

    return ApiTokens(connect(_settings().redis_url))


def _token_create(args: argparse.Namespace) -> None:
    tokens = _api_tokens()
    try:
        record, plain = tokens.create(args.name, args.scopes)
    except ValueError as error:
        sys.exit(f"nextpyter-admin: {error}")
    print(f"id: {record.id}\ntoken (shown once): {plain}")


def _token_list(args: argparse.Namespace) -> None:
    for item in _api_tokens().list():
        print(f"{item.id}  {item.name}  {','.join(sorted(item.scopes))}")


def _token_revoke(args: argparse.Namespace) -> None:
    print("revoked" if _api_tokens().revoke(args.id) else "no such token")


def _admin_parser() -> argparse.ArgumentParser:
    from . import admin_client

    parser = argparse.ArgumentParser(prog="nextpyter-admin", description="NextPyter administration")
    admin_client.add_options(
        parser,
        url=os.environ.get("NEXTPYTER_ADMIN_URL", ""),
        token_file=os.environ.get("NEXTPYTER_ADMIN_TOKEN_FILE", ""),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("dev-keygen", help="make a development signing key and its JWKS")
    keygen.add_argument("directory", type=Path)
    keygen.set_defaults(func=_dev_keygen)

    mint = sub.add_parser("mint-token", help="mint a launch token with a development key")
    mint.add_argument("--key", type=Path, required=True, help="private key (PEM)")
    mint.add_argument("--user", required=True)
    mint.add_argument("--path", default="")
    mint.add_argument("--profile", default="default")
    mint.add_argument("--issuer", default=os.environ.get("NEXTPYTER_TOKEN_ISSUER", ""))
    mint.add_argument(
        "--audience", default=os.environ.get("NEXTPYTER_TOKEN_AUDIENCE", "nextpyter-sidecar")
    )
    mint.add_argument("--lifetime", type=int, default=60)
    mint.set_defaults(func=_mint_token)

    sessions = sub.add_parser(
        "sessions", help="list running servers (here; `sessions list|stop` over the API)"
    )
    sessions.set_defaults(func=_sessions)
    stop = sub.add_parser("stop", help="stop a user's server")
    stop.add_argument("user")
    stop.set_defaults(func=_stop)

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, dest="scopes")
    create.set_defaults(func=_token_create)
    token_sub.add_parser("list").set_defaults(func=_token_list)
    revoke = token_sub.add_parser("revoke")
    revoke.add_argument("id")
    revoke.set_defaults(func=_token_revoke)

    egress = sub.add_parser(
        "egress-rules",
        help="the firewall rules for the Docker engine's host that keep notebook containers "
        "to the internet (print them as a shell script, or --apply them here, as root)",
    )
    egress.add_argument("--apply", action="store_true", help="insert the missing rules now")
    egress.set_defaults(func=_egress_rules)

    health = sub.add_parser(
        "health", help="exit 0 if the sidecar at URL answers its health check (containers)"
    )
    health.add_argument("--url", default="http://127.0.0.1:8000/api/v1/health")
    health.add_argument("--timeout", type=float, default=4.0)
    health.set_defaults(func=_health)
    admin_client.add_commands(sub, sessions)  # over the REST API: --url, --token-file
    return parser


def admin_main(argv: list[str] | None = None) -> None:
    args = _admin_parser().parse_args(argv)
    args.func(args)
