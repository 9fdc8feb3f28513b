"""GPUs assigned, not shared by accident (docker and local backends; see docs/gpus.md).

With an inventory (``NEXTPYTER_GPUS``: device indices or UUIDs, or ``auto`` for what
``nvidia-smi -L`` lists), a launch whose profile asks for N GPUs is given N devices by
name, under the user's spawn lock: devices nobody holds, or, for a profile marked
``gpu_shared``, devices held only by other sharing servers (fewest holders first). Two
servers never hold one device unless both profiles say they may share.

Who holds what is in Redis (``keys.GPUS``: a hash of slug -> JSON ``{"gpus": [...],
"shared": bool}``), changed with WATCH/MULTI so two replicas never hand out one device,
and in the runtime itself (the container's ``org.nextpyter.gpus`` label, the local
server's state file): :meth:`Gpus.rebuild` makes the hash anew from the running servers
(every culler pass, so a restarted sidecar or a lost Redis finds the assignment again),
and an assignment counts what runs whatever the hash says. A holding whose server is gone
and whose user is not being launched is dropped: stops need not release anything.

Kubernetes has no bookkeeping here: ``nvidia.com/gpu`` limits are exclusive devices the
scheduler and the device plugin assign.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import redis

from ..common import keys
from .dynconfig import RuntimeConfig
from .problems import Problem
from .runtime import Backend, Server

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holding:
    gpus: tuple[str, ...]
    shared: bool


def parse_inventory(value: str, discover: Callable[[], list[str]] | None = None) -> tuple[str, ...]:
    """The devices of ``NEXTPYTER_GPUS``: a comma list, or ``auto`` (``discover()``,
    nvidia-smi by default; nothing when it is not there)."""
    value = value.strip()
    if value == "auto":
        return tuple((discover or nvidia_smi)())
    return tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))


def nvidia_smi() -> list[str]:
    """The indices of the GPUs ``nvidia-smi -L`` lists ("GPU 0: ... (UUID: ...)")."""
    command = shutil.which("nvidia-smi")
    if not command:
        log.warning("NEXTPYTER_GPUS=auto, but there is no nvidia-smi: no GPUs to assign")
        return []
    try:
        listed = subprocess.run(
            [command, "-L"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("nvidia-smi -L failed (%s): no GPUs to assign", error)
        return []
    found = []
    for line in listed.splitlines():
        head = line.split(":", 1)[0].strip()
        if head.startswith("GPU ") and head[4:].isdigit():
            found.append(head[4:])
    return found


def choose(
    inventory: tuple[str, ...], held: Mapping[str, Holding], count: int, shared: bool
) -> list[str] | None:
    """``count`` devices for a new server (pure): free ones first, then, if ``shared``,
    those held only by sharing servers, fewest holders first; None if too few."""
    holders: dict[str, list[bool]] = {gpu: [] for gpu in inventory}
    for holding in held.values():
        for gpu in holding.gpus:
            if gpu in holders:
                holders[gpu].append(holding.shared)
    free = [gpu for gpu in inventory if not holders[gpu]]
    if shared:
        sharable = [g for g in inventory if holders[g] and all(holders[g])]
        free += sorted(sharable, key=lambda g: len(holders[g]))
    return free[:count] if len(free) >= count else None


def refusal(inventory: tuple[str, ...], count: int) -> Problem:
    if count > len(inventory):
        detail = (
            f"This profile asks for {count} GPUs, but this installation has "
            f"{len(inventory)}; pick another profile or ask your administrator."
        )
    else:
        many = "the GPU is" if len(inventory) == 1 else f"all {len(inventory)} GPUs are"
        detail = f"{many} in use; try again later or pick a CPU profile."
    return Problem(409, "gpus-in-use", "No GPU free", detail[0].upper() + detail[1:])


def _load(raw: Mapping[str, str]) -> dict[str, Holding]:
    held = {}
    for slug, value in raw.items():
        try:
            body = json.loads(value)
            held[slug] = Holding(tuple(str(g) for g in body["gpus"]), bool(body.get("shared")))
        except (ValueError, KeyError, TypeError):
            continue
    return held


def _dump(holding: Holding) -> str:
    return json.dumps({"gpus": list(holding.gpus), "shared": holding.shared})


class Gpus:
    """The assignment of one installation's GPU inventory (see the module's docstring)."""

    def __init__(self, client: redis.Redis, inventory: Iterable[str]) -> None:
        self.client = client
        self.inventory = tuple(inventory)

    def running(self, servers: Iterable[Server], config: RuntimeConfig) -> dict[str, Holding]:
        """What the runtime says is held: each server's GPUs (label or state file)."""

        def sharing(profile: str) -> bool:
            return profile in config.profiles and config.profiles[profile].gpu_shared

        return {s.slug: Holding(s.gpus, sharing(s.profile)) for s in servers if s.gpus}

    def holdings(self) -> dict[str, Holding]:
        return _load(self.client.hgetall(keys.GPUS))  # type: ignore[arg-type]

    def check(
        self,
        backend: Backend,
        config: RuntimeConfig,
        slug: str,
        count: int,
        shared: bool,
        starting: Callable[[str], bool],
    ) -> None:
        """Refuse at once (409) a launch for which too few GPUs are free now (counting what
        runs and the launches under way, as :meth:`assign` does)."""
        running = self.running(backend.list(), config)
        recorded = {s: h for s, h in self.holdings().items() if s in running or starting(s)}
        held = recorded | running
        held.pop(slug, None)
        if choose(self.inventory, held, count, shared) is None:
            raise refusal(self.inventory, count)

    def assign(
        self,
        backend: Backend,
        config: RuntimeConfig,
        slug: str,
        count: int,
        shared: bool,
        starting: Callable[[str], bool],
    ) -> tuple[str, ...]:
        """Give ``slug`` ``count`` devices and record it (the caller holds ``slug``'s spawn
        lock); :class:`Problem` 409 if too few are free. ``starting(slug)``: whether
        another user's launch is under way (its holding is kept though nothing runs)."""
        running = self.running(backend.list(), config)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(keys.GPUS)  # type: ignore[no-untyped-call]
                    recorded = _load(pipe.hgetall(keys.GPUS))  # type: ignore[arg-type]
                    stale = [
                        s for s in recorded if s not in running and s != slug and not starting(s)
                    ]
                    held = {s: h for s, h in recorded.items() if s not in stale} | running
                    held.pop(slug, None)
                    chosen = choose(self.inventory, held, count, shared)
                    pipe.multi()
                    if stale:
                        pipe.hdel(keys.GPUS, *stale)
                    if chosen is None:
                        pipe.hdel(keys.GPUS, slug)
                    else:
                        pipe.hset(keys.GPUS, slug, _dump(Holding(tuple(chosen), shared)))
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue  # another replica changed it meanwhile: look again
        if chosen is None:
            raise refusal(self.inventory, count)
        return tuple(chosen)

    def release(self, slug: str) -> None:
        self.client.hdel(keys.GPUS, slug)

    def rebuild(
        self, backend: Backend, config: RuntimeConfig, starting: Callable[[str], bool]
    ) -> dict[str, Holding]:
        """Make the record anew from what runs (a restarted sidecar, a lost Redis): what
        the servers' labels say, plus the holdings of launches under way."""
        running = self.running(backend.list(), config)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(keys.GPUS)  # type: ignore[no-untyped-call]
                    recorded = _load(pipe.hgetall(keys.GPUS))  # type: ignore[arg-type]
                    kept = {s: h for s, h in recorded.items() if s not in running and starting(s)}
                    pipe.multi()
                    pipe.delete(keys.GPUS)
                    merged = kept | running
                    if merged:
                        pipe.hset(keys.GPUS, mapping={s: _dump(h) for s, h in merged.items()})
                    pipe.execute()
                    return merged
                except redis.WatchError:
                    continue
