"""The pull queue's whole protocol: the one definition the sidecar and pagletto both import
(keys, fields, states, error kinds, and the Lua scripts that change them atomically).

The sidecar asks for pulls and follows them; pagletto pulls, and its CLI looks at the
queue. Everything lives in Redis, shared by every sidecar replica and every pagletto
worker, under the keys that :mod:`nextpyter.common.keys` spells:

``nextpyter:pulls`` (:data:`STREAM`), consumer group ``pagletto`` (:data:`GROUP`)
    One entry per pull job, with the fields of :class:`Job`. A worker acknowledges
    and deletes the entry only once the image is on the engine; an entry whose worker
    stopped answering is taken over (``XAUTOCLAIM``) by another.

``nextpyter:pulls:dead`` (:data:`DEAD_STREAM`)
    Jobs given up: the job's fields (at most :data:`DEAD_FIELDS`) plus ``entry`` (the
    job's entry id), ``error``, ``error_kind``, ``deliveries``, ``failed_at`` and
    ``worker``.

``nextpyter:pull:<image>`` (:func:`state_key`), a hash per image
    The image's pull, as :class:`PullState` fields: ``state`` (:data:`STATES`),
    ``job``, ``entry``, bytes ``done`` and ``total`` (downloaded, over every layer whose
    size is known), ``percent`` (download and extraction, never decreasing), ``layers``
    (JSON: per layer ``status``, ``done``, ``total``, ``extracted``), ``error``,
    ``error_kind``, ``attempt``, ``worker`` and times. At most one job per image is active
    at a time: :func:`request_pull` joins the active one instead of queueing another.

``nextpyter:pull:<image>:events`` (:func:`events_key`)
    A short stream with an entry per change of the hash, so that followers block
    (``XREAD``) instead of polling.

``nextpyter:pullers`` (:data:`WORKERS`), a sorted set
    Each worker's name, scored with when it was last seen (every few seconds while it
    runs): whether any worker is there to take a job (:func:`live_workers`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from .common import keys
from .common.images import InvalidImage, is_image, normalize_image, split_image

__all__ = ["InvalidImage", "is_image", "normalize_image", "split_image"]  # re-exported

STREAM = keys.PULL_STREAM
GROUP = "pagletto"
DEAD_STREAM = keys.PULL_DEAD_STREAM
WORKERS = keys.PULL_WORKERS

QUEUED, PULLING, RETRYING, DONE, FAILED = "queued", "pulling", "retrying", "done", "failed"
STATES = (QUEUED, PULLING, RETRYING, DONE, FAILED)
ACTIVE = frozenset({QUEUED, PULLING, RETRYING})
FINAL = frozenset({DONE, FAILED})

# Why a pull failed, for programs (the message is for people).
ERROR_KINDS = (
    "not-found",  # no such image or tag, or the registry hides it without credentials
    "unauthorized",  # the registry refused the credentials (or wants some)
    "disk-full",  # the engine has no room for the layers
    "registry",  # the registry or the network failed, and kept failing
    "malformed",  # the job itself is not a pull job
    "worker-lost",  # the pull was started again and again and never finished
    "engine",  # the engine failed
)

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}")  # as nextpyter.common.jsonlog accepts
STATE_TTL = 7 * 86400  # how long an image's last pull stays on record
EVENTS_MAXLEN = 100
DEAD_MAXLEN = 10_000

state_key = keys.pull_state
events_key = keys.pull_events


@dataclass(frozen=True)
class Job:
    """A stream entry's fields."""

    job: str
    image: str
    requested_at: float
    requested_by: str
    # The sidecar request that caused it (logged with the pull); absent from older entries.
    request_id: str = ""

    def fields(self) -> dict[str, str]:
        fields = {
            "job": self.job,
            "image": self.image,
            "requested_at": f"{self.requested_at:.3f}",
            "requested_by": self.requested_by,
        }
        if self.request_id:
            fields["request_id"] = self.request_id
        return fields

    @classmethod
    def parse(cls, fields: dict[str, str]) -> Job:
        """Raise :class:`InvalidImage` or ``ValueError`` for an entry that is not a job."""
        job = fields.get("job", "")
        if not re.fullmatch(r"[0-9a-f]{32}", job):
            raise ValueError(f"the job id {job[:40]!r} is not a pull job's id")
        image = normalize_image(fields.get("image", ""))
        return cls(
            job=job,
            image=image,
            requested_at=float(fields.get("requested_at", "0")),
            requested_by=fields.get("requested_by", "")[:100],
            request_id=rid if REQUEST_ID_RE.fullmatch(rid := fields.get("request_id", "")) else "",
        )


@dataclass
class PullState:
    """An image's pull, as the hash holds it."""

    image: str
    state: str = ""
    job: str = ""
    entry: str = ""
    done: int = 0
    total: int = 0
    percent: float = 0.0
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""
    error_kind: str = ""
    attempt: int = 0
    worker: str = ""
    queued_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    updated: float = 0.0

    @classmethod
    def from_hash(cls, image: str, raw: dict[str, str]) -> PullState:
        def number(name: str, kind: type = float) -> Any:
            try:
                return kind(raw.get(name) or 0)
            except ValueError:
                return kind(0)

        try:
            layers = json.loads(raw.get("layers") or "{}")
        except ValueError:
            layers = {}
        return cls(
            image=image,
            state=raw.get("state", ""),
            job=raw.get("job", ""),
            entry=raw.get("entry", ""),
            done=number("done", int),
            total=number("total", int),
            percent=number("percent"),
            layers=layers if isinstance(layers, dict) else {},
            error=raw.get("error", ""),
            error_kind=raw.get("error_kind", ""),
            attempt=number("attempt", int),
            worker=raw.get("worker", ""),
            queued_at=number("queued_at"),
            started_at=number("started_at"),
            finished_at=number("finished_at"),
            updated=number("updated"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_state(client: redis.Redis, image: str) -> PullState | None:
    raw: Any = client.hgetall(state_key(image))
    return PullState.from_hash(image, raw) if raw else None


def ensure_group(client: redis.Redis) -> None:
    """The consumer group, reading from the stream's start: entries queued before any
    worker ever ran are not skipped."""
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


# Queue a pull of an image unless one is active; atomic, so that any number of
# launches on any number of replicas make one job. An active state whose stream entry
# is gone (trimmed or deleted by hand) no longer counts. With ARGV[7] = 1 (a follower
# whose job seems lost) a pull that has ended is not queued again. ARGV[9]: the request
# id that caused it (may be empty), a field of the entry that pagletto logs.
_REQUEST = """
-- The group, reading from the stream's start (as ensure_group makes it), if there is none.
redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[8], '0', 'MKSTREAM')
local state = redis.call('HGET', KEYS[1], 'state')
if ARGV[7] == '1' and (state == 'done' or state == 'failed') then
  return {0, redis.call('HGET', KEYS[1], 'job'), redis.call('HGET', KEYS[1], 'entry')}
end
if state == 'queued' or state == 'pulling' or state == 'retrying' then
  local entry = redis.call('HGET', KEYS[1], 'entry')
  if entry and #redis.call('XRANGE', KEYS[2], entry, entry) > 0 then
    return {0, redis.call('HGET', KEYS[1], 'job'), entry}
  end
end
local entry = redis.call('XADD', KEYS[2], '*', 'job', ARGV[1], 'image', ARGV[2],
  'requested_at', ARGV[3], 'requested_by', ARGV[4], 'request_id', ARGV[9])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'image', ARGV[2], 'state', 'queued', 'job', ARGV[1],
  'entry', entry, 'done', 0, 'total', 0, 'percent', 0, 'queued_at', ARGV[3],
  'updated', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'state', 'queued', 'job', ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[5])
return {1, ARGV[1], entry}
"""


@dataclass(frozen=True)
class Requested:
    image: str
    job: str
    entry: str
    queued: bool  # False: joined a pull already queued or under way


def request_pull(
    client: redis.Redis,
    image: str,
    requested_by: str,
    only_if_lost: bool = False,
    request_id: str = "",
) -> Requested:
    """Queue a pull of ``image`` (normalized here), or join the one that is active.
    ``only_if_lost``: queue one only if the image's job is gone, not if it has ended.
    ``request_id``: the request that caused it, for pagletto's log lines of the pull."""
    image = normalize_image(image)
    reply: Any = client.eval(
        _REQUEST,
        3,
        state_key(image),
        STREAM,
        events_key(image),
        uuid.uuid4().hex,
        image,
        f"{time.time():.3f}",
        requested_by[:100],
        STATE_TTL,
        EVENTS_MAXLEN,
        "1" if only_if_lost else "0",
        GROUP,
        request_id if REQUEST_ID_RE.fullmatch(request_id) else "",
    )
    queued, job, entry = reply
    return Requested(image=image, job=str(job), entry=str(entry), queued=bool(int(queued)))


ALIVE = 60.0  # a worker seen within this many seconds counts as running
RESTART_GRACE = 15.0  # how long a worker that stopped still counts (it may be restarting)


def _now(client: redis.Redis) -> float:
    """Redis's clock: workers and sidecars on machines whose clocks differ agree on it."""
    seconds, micros = client.time()
    return float(seconds) + micros / 1e6


def seen(client: redis.Redis, worker: str) -> None:
    """Note that ``worker`` runs (and forget workers gone for a day)."""
    now = _now(client)
    with client.pipeline(transaction=False) as pipe:
        pipe.zadd(WORKERS, {worker: now})
        pipe.zremrangebyscore(WORKERS, 0, now - 86400)
        pipe.execute()


def leaving(client: redis.Redis, worker: str) -> None:
    """``worker`` stops: it counts as running for :data:`RESTART_GRACE` more seconds (a
    restart), not for all of :data:`ALIVE`."""
    client.zadd(WORKERS, {worker: _now(client) - ALIVE + RESTART_GRACE})


def live_workers(client: redis.Redis, within: float = ALIVE) -> list[str]:
    """The workers seen in the last ``within`` seconds."""
    found: Any = client.zrangebyscore(WORKERS, _now(client) - within, "+inf")
    return [str(name) for name in found]


# -- looking at the queue (pagletto status and requeue) ----------------------------------


def queue_status(client: redis.Redis, dead: int = 20) -> dict[str, Any]:
    """The queue at a glance: entries in the stream, entries being pulled, each worker
    (when last seen, how many entries it holds) and the last ``dead`` dead letters."""
    ensure_group(client)
    groups: Any = client.xinfo_groups(STREAM)
    group: dict[str, Any] = next((g for g in groups if g["name"] == GROUP), {})
    holding: Any = client.xinfo_consumers(STREAM, GROUP)
    pending = {c["name"]: int(c["pending"]) for c in holding}
    workers: Any = client.zrange(WORKERS, 0, -1, withscores=True)
    letters: Any = client.xrevrange(DEAD_STREAM, count=dead)
    return {
        "queued": int(client.xlen(STREAM)),
        "pending": int(group.get("pending", 0)),
        "workers": [
            {"name": name, "last_seen": round(score, 3), "pending": pending.get(name, 0)}
            for name, score in workers
        ],
        "dead": [{"entry": entry, **fields} for entry, fields in letters],
    }


def dead_letter(client: redis.Redis, entry: str) -> dict[str, str] | None:
    """The fields of dead letter ``entry`` (an entry id of the dead-letter stream), if any."""
    found: Any = client.xrange(DEAD_STREAM, entry, entry)
    return dict(found[0][1]) if found else None


# -- the worker's scripts ----------------------------------------------------------------
# Each changes an entry, or the state of its image, only while the entry is pending on the
# worker that calls it (SET_STATE also for no worker in particular: the image is on the
# engine, whoever pulled it). A worker that was thought dead, and whose job another took
# over, changes nothing. WorkerScripts (below) calls them with their KEYS and ARGV.

# Claim the entry again for its consumer, if it still is its consumer: that resets the
# entry's idle time (JUSTID: without counting a delivery), so that no one takes over a
# live pull.
# KEYS: stream; ARGV: group, entry, worker
TOUCH = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 1 and pending[1][2] == ARGV[3] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
  return 1
end
return 0
"""

# Whether ARGV[2] (an entry) is pending on ARGV[3] (this worker) in group ARGV[1]; an
# empty worker means "whoever": the pull is done, and saying so is true from any worker.
_OWNS = """
local function owns(stream, group, entry, worker)
  if worker == '' then return true end
  local pending = redis.call('XPENDING', stream, group, entry, entry, 1)
  return #pending == 1 and pending[1][2] == worker
end
"""

# Write an image's state while it is this entry's (a newer job may have replaced a state
# whose entry was lost) and the entry is this worker's (one that stalled and was taken
# over writes nothing), and tell the followers.
# KEYS: state, events, stream; ARGV: group, entry, worker ('': whoever), events maxlen,
# ttl, field, value...
SET_STATE = (
    _OWNS
    + """
if redis.call('HGET', KEYS[1], 'entry') ~= ARGV[2]
    or not owns(KEYS[3], ARGV[1], ARGV[2], ARGV[3]) then
  return 0
end
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'state',
  redis.call('HGET', KEYS[1], 'state'), 'percent', redis.call('HGET', KEYS[1], 'percent'))
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""
)

# Move an entry to the dead letters (acknowledged and deleted), if it is still this
# worker's.
# KEYS: stream, dead stream; ARGV: group, entry, worker, dead maxlen, the letter's fields...
GIVE_UP = (
    _OWNS
    + """
if not owns(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then
  return 0
end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(fields))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""
)


DEAD_FIELDS = 20  # of a job's fields, at most this many go to its dead letter


class WorkerScripts:
    """The worker's scripts, registered on its client (sent by digest, and again in full
    to a Redis that lost them), with their KEYS and ARGV laid out as each reads them.
    ``client``: a pipeline of that client, to run the call in the pipeline's transaction."""

    def __init__(self, client: redis.Redis) -> None:
        self._touch = client.register_script(TOUCH)
        self._set_state = client.register_script(SET_STATE)
        self._give_up = client.register_script(GIVE_UP)

    def touch(self, entry: str, worker: str) -> bool:
        """Reset the idle time of ``entry``, pending on ``worker``; False if it no longer is."""
        still: Any = self._touch(keys=[STREAM], args=[GROUP, entry, worker])
        return bool(still)

    def set_state(
        self, image: str, entry: str, worker: str, fields: dict[str, Any], client: Any = None
    ) -> None:
        """Write ``fields`` to the state of ``image`` while it is ``entry``'s and ``entry`` is
        pending on ``worker`` (``""``: on whoever), and tell its followers."""
        flat: list[str] = []
        for name, value in fields.items():
            flat += [name, f"{value:.3f}" if isinstance(value, float) else str(value)]
        self._set_state(
            keys=[state_key(image), events_key(image), STREAM],
            args=[GROUP, entry, worker, EVENTS_MAXLEN, STATE_TTL, *flat],
            client=client,
        )

    def give_up(
        self,
        entry: str,
        worker: str,
        job_fields: dict[str, str],
        error: str,
        error_kind: str,
        deliveries: int,
        failed_at: float,
        client: Any = None,
    ) -> None:
        """Move ``entry``, pending on ``worker``, to the dead letters, with its job's fields
        (``job_fields``, as the entry holds them) and why and when it was given up."""
        # The entry's own fields, bounded (an entry not written by NextPyter may hold any
        # number, and a Lua script can pass on only so many).
        kept = list(job_fields.items())[:DEAD_FIELDS]
        letter: dict[Any, Any] = {
            **{str(k)[:100]: str(v)[:1000] for k, v in kept},
            "entry": entry,
            "error": error,
            "error_kind": error_kind,
            "deliveries": str(deliveries),
            "failed_at": f"{failed_at:.3f}",
            "worker": worker,
        }
        self._give_up(
            keys=[STREAM, DEAD_STREAM],
            args=[
                GROUP,
                entry,
                worker,
                DEAD_MAXLEN,
                *(str(item) for pair in letter.items() for item in pair),
            ],
            client=client,
        )
