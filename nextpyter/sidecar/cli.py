"""Console entry points: ``nextpyter-sidecar`` (serve) and ``nextpyter-admin``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..common.env import ConfigError
from .config import load_settings


def serve_main(argv: list[str] | None = None) -> None:
    """Run the sidecar under gunicorn (threaded workers: progress streams are long requests)."""
    from gunicorn.app.base import BaseApplication

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
        load_settings()  # fail here, once, with the variable's name, not in every worker
    except ConfigError as error:
        sys.exit(f"nextpyter-sidecar: configuration error: {error}")

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
                # gunicorn 27's control socket lives in $HOME; the sidecar does not use it.
                "control_socket_disable": True,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from .app import create_app

            return create_app()

    Sidecar().run()


def _health(url: str, timeout: float) -> None:
    import requests

    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as error:
        sys.exit(f"nextpyter-admin: the sidecar at {url} did not answer ({type(error).__name__})")
    if response.status_code != 200:
        sys.exit(f"nextpyter-admin: the sidecar at {url} answered {response.status_code}")
    print("ok")


def admin_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nextpyter-admin", description="NextPyter administration")
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("dev-keygen", help="make a development signing key and its JWKS")
    keygen.add_argument("directory", type=Path)

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

    sub.add_parser("sessions", help="list running servers")
    stop = sub.add_parser("stop", help="stop a user's server")
    stop.add_argument("user")

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, dest="scopes")
    token_sub.add_parser("list")
    revoke = token_sub.add_parser("revoke")
    revoke.add_argument("id")

    egress = sub.add_parser(
        "egress-rules",
        help="the firewall rules for the Docker engine's host that keep notebook containers "
        "to the internet (print them as a shell script, or --apply them here, as root)",
    )
    egress.add_argument("--apply", action="store_true", help="insert the missing rules now")

    health = sub.add_parser(
        "health", help="exit 0 if the sidecar at URL answers its health check (containers)"
    )
    health.add_argument("--url", default="http://127.0.0.1:8000/api/v1/health")
    health.add_argument("--timeout", type=float, default=4.0)

    args = parser.parse_args(argv)
    if args.command == "health":
        _health(args.url, args.timeout)
        return
    if args.command == "egress-rules":
        from .runtime import egress as egress_rules

        if args.apply:
            egress_rules.apply()
        else:
            print(egress_rules.shell(), end="")
        return
    if args.command == "dev-keygen":
        from .signing import generate_key

        pem, jwks = generate_key(args.directory)
        print(f"private key: {pem}\njwks: {jwks}")
        return
    if args.command == "mint-token":
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
        return

    try:
        settings = load_settings()
    except ConfigError as error:
        sys.exit(f"nextpyter-admin: configuration error: {error}")
    from ..common.redis import connect
    from .apitokens import ApiTokens
    from .runtime import make_backend
    from .slugs import InvalidUserId, slug_for

    if args.command == "sessions":
        for server in make_backend(settings).list():
            print(json.dumps(server.to_dict()))
    elif args.command == "stop":
        try:
            slug = slug_for(args.user)
        except InvalidUserId as error:
            sys.exit(f"nextpyter-admin: {error}")
        found = make_backend(settings).stop(slug)
        print("stopped" if found else "no server was running")
    elif args.command == "token":
        tokens = ApiTokens(connect(settings.redis_url))
        if args.token_command == "create":
            try:
                record, plain = tokens.create(args.name, args.scopes)
            except ValueError as error:
                sys.exit(f"nextpyter-admin: {error}")
            print(f"id: {record.id}\ntoken (shown once): {plain}")
        elif args.token_command == "list":
            for item in tokens.list():
                print(f"{item.id}  {item.name}  {','.join(sorted(item.scopes))}")
        elif args.token_command == "revoke":
            print("revoked" if tokens.revoke(args.id) else "no such token")
