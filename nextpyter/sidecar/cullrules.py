"""Whether the culler stops a server now, and the words for why: a pure function of the
server, the administrator's limits and what the server says of its kernels (no I/O but
the two callables it is handed). What counts as activity: runtime/activity.py and
docs/culling.md."""

from __future__ import annotations

from collections.abc import Callable

from .dynconfig import RuntimeConfig
from .runtime import Server
from .runtime.activity import Activity

# The kinds a cull has (also the metric's label and what the "why it stopped" record says).
IDLE, LIFETIME, BUSY = "idle", "lifetime", "busy"


def span(seconds: float) -> str:
    """A duration as people say it: 45 s, 60 min, 12 h, 1 h 30 min."""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if not rest else f"{hours} h {rest} min"


def any_limit(config: RuntimeConfig) -> bool:
    """Whether any server may be culled at all (a global or a profile's limit is set)."""
    return bool(
        config.idle_timeout
        or config.max_lifetime
        or any(p.idle_timeout for p in config.profiles.values())
    )


def decide(
    server: Server | None,
    config: RuntimeConfig,
    now: float,
    launched: float,
    probe: Callable[[], Activity | None],
    reported: Callable[[], float | None],
) -> tuple[str, str]:
    """``(kind, why)`` to stop ``server`` now, or ``("", "")`` to keep it.

    ``launched`` is when the user last launched (0.0: never known); ``probe()`` reads the
    server's kernels and terminals (None: it cannot be asked that way), and ``reported()``
    is the server's own last activity, asked only when ``probe`` cannot be (None: it does
    not answer, so it is left alone)."""
    if server is None or server.state != "running":
        return "", ""
    if config.max_lifetime and now - server.created > config.max_lifetime:
        return LIFETIME, f"ran for the maximum lifetime of {span(config.max_lifetime)}"
    timeout = config.idle_timeout_of(server.profile)
    if not timeout:
        return "", ""
    seen = probe()
    if seen is None:
        used = reported()
        if used is None:
            return "", ""  # it does not say: leave it
        seen = Activity(last=used, busy=False)
    last = max(seen.last, launched, server.created)
    quiet = now - last
    if seen.busy:
        # A busy kernel is use now, however long it prints nothing; only the separate
        # busy limit (off by default) ends it.
        if config.busy_timeout and quiet > config.busy_timeout:
            return BUSY, f"a kernel ran for {span(quiet)} with nothing else going on"
        return "", ""
    if quiet > timeout:
        return IDLE, f"idle for {span(timeout)}"
    return "", ""
