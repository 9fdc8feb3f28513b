"""The Redis connection both services use, and a helper for work that must be kept
alive while a block runs (a lock's renewal, a pull's touch, a stall watch).

One Redis (``NEXTPYTER_REDIS_URL``), or a master found through Redis Sentinel
(``NEXTPYTER_REDIS_SENTINELS`` and ``NEXTPYTER_REDIS_SENTINEL_SERVICE``): the client
then asks the sentinels for the master on every new connection, so it follows a
failover by itself (a command that meets the old master's closed connection is tried
again on the new one). Passwords and TLS as Redis has them: ``NEXTPYTER_REDIS_PASSWORD``
(or ``_FILE``) for the data nodes, ``NEXTPYTER_REDIS_SENTINEL_PASSWORD`` for the
sentinels, ``rediss://`` or ``NEXTPYTER_REDIS_TLS`` with the CA, certificate and key
files. What a failover can lose is in docs/architecture.md (Redis high availability).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from redis.connection import parse_url
from redis.sentinel import Sentinel

from .env import PREFIX, ConfigError
from .jsonlog import never_log
from .settings import boolean, secret, text

READ_TIMEOUT = 45.0  # longer than any blocking command we send
SENTINEL_TIMEOUT = 2.0  # a sentinel answers at once or is skipped for the next
_ADDRESS = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})")


@dataclass(frozen=True)
class RedisOptions:
    """How to reach Redis besides its URL: the sentinels, passwords and TLS files."""

    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    password: str | None = None
    sentinel_password: str | None = None
    tls: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    def tls_kwargs(self) -> dict[str, Any]:
        """redis-py's TLS arguments (the files only: ``ssl`` itself is the caller's)."""
        out: dict[str, Any] = {}
        if self.tls_ca_file:
            out["ssl_ca_certs"] = self.tls_ca_file
        if self.tls_cert_file:
            out["ssl_certfile"] = self.tls_cert_file
        if self.tls_key_file:
            out["ssl_keyfile"] = self.tls_key_file
        return out

    def describe(self, url: str) -> str:
        """Where Redis is, for a log line: never a password."""
        if self.sentinels:
            where = ",".join(f"{h}:{p}" for h, p in self.sentinels)
            return f"Redis Sentinel service {self.service!r} via {where}"
        return f"Redis at {safe_url(url)}"


def safe_url(url: str) -> str:
    """``url`` without its password."""
    return re.sub(r"//([^@/]*)@", lambda m: "//" + m.group(1).split(":")[0] + ":***@", url)


def parse_sentinels(raw: str) -> tuple[tuple[str, int], ...]:
    out = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        match = _ADDRESS.fullmatch(item)
        if not match or not 0 < int(match.group("port")) < 65536:
            raise ConfigError(
                f"{PREFIX}REDIS_SENTINELS: {item[:60]!r} is not host:port "
                "(use host:port,host:port; [::1]:26379 for IPv6)"
            )
        out.append((match.group("v6") or match.group("host"), int(match.group("port"))))
    return tuple(out)


def _given(env: Mapping[str, str], name: str) -> bool:
    return bool(env.get(PREFIX + name) or env.get(f"{PREFIX}{name}_FILE"))


def _file(env: Mapping[str, str], name: str) -> str | None:
    value = text(env, name)
    if not value:
        return None
    if not os.path.isabs(value):
        raise ConfigError(f"{PREFIX}{name}={value} must be an absolute path")
    return value


def options(env: Mapping[str, str] | None = None) -> RedisOptions:
    """The Redis settings besides the URL (``os.environ`` by default); a malformed one is
    a :class:`ConfigError` naming it."""
    env = os.environ if env is None else env
    sentinels = parse_sentinels(text(env, "REDIS_SENTINELS"))
    service = text(env, "REDIS_SENTINEL_SERVICE")
    if sentinels and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", service):
        raise ConfigError(
            f"{PREFIX}REDIS_SENTINEL_SERVICE={service[:60]!r} is not a master name the "
            "sentinels monitor (letters, digits, _ . -)"
        )
    return RedisOptions(
        sentinels=sentinels,
        service=service,
        password=secret(env, "REDIS_PASSWORD") if _given(env, "REDIS_PASSWORD") else None,
        sentinel_password=(
            secret(env, "REDIS_SENTINEL_PASSWORD")
            if _given(env, "REDIS_SENTINEL_PASSWORD")
            else None
        ),
        tls=boolean(env, "REDIS_TLS"),
        tls_ca_file=_file(env, "REDIS_TLS_CA_FILE"),
        tls_cert_file=_file(env, "REDIS_TLS_CERT_FILE"),
        tls_key_file=_file(env, "REDIS_TLS_KEY_FILE"),
    )


def connect(url: str, env: Mapping[str, str] | None = None) -> redis.Redis:
    """A client of ``url``'s Redis, or (with sentinels set in ``env``, ``os.environ`` by
    default) of the master the sentinels name, following its failovers. No I/O: the
    connection is made at the first command."""
    opts = options(env)
    never_log(opts.password, opts.sentinel_password)
    # A reply may take as long as the longest blocking read (the progress stream's XREAD
    # blocks up to 15 s); redis-py 8's default of 5 s would cut it.
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 5,
        "socket_timeout": READ_TIMEOUT,
        "health_check_interval": 30,
    }
    if opts.sentinels:
        parsed: dict[str, Any] = {}  # the URL gives the database (and a user, a password)
        if url.startswith(("redis://", "rediss://")):
            parsed = parse_url(url)  # type: ignore[no-untyped-call]
        tls: dict[str, Any] = {"ssl": True, **opts.tls_kwargs()} if opts.tls else {}
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(opts.sentinels),
            sentinel_kwargs={
                "socket_connect_timeout": SENTINEL_TIMEOUT,
                "socket_timeout": SENTINEL_TIMEOUT,
                "password": opts.sentinel_password,
                **tls,
            },
        )
        master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            opts.service,
            db=int(parsed.get("db", 0) or 0),
            username=parsed.get("username"),
            password=opts.password or parsed.get("password"),
            **common,
            **tls,
        )
        return master
    extra: dict[str, Any] = {}
    if opts.password is not None:
        extra["password"] = opts.password  # the URL's own, if it has one, wins
    if url.startswith("rediss://"):
        extra.update(opts.tls_kwargs())
    return redis.Redis.from_url(url, **common, **extra)


@contextlib.contextmanager
def ticking(every: float, tick: Callable[[], bool], name: str) -> Iterator[None]:
    """Call ``tick`` every ``every`` seconds in a thread of its own while the block runs,
    until it returns False; the thread is joined when the block ends."""
    done = threading.Event()

    def run() -> None:
        while not done.wait(every):
            if not tick():
                return

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
