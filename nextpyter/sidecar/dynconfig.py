"""Settings the administrator changes at run time (from Nextcloud's admin page).

Stored as one JSON document in Redis (``nextpyter:config``), so every replica sees a
change at the next launch without a restart. Until an administrator saves one, the
environment's settings apply (``NEXTPYTER_PROFILES``, no idle culling).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

import redis

from ..common import keys
from ..common.images import is_image
from .config import PROFILE_RE, Settings
from .config import SIZE_RE as MEMORY_RE
from .problems import Problem

log = logging.getLogger(__name__)
CONFIG_KEY = keys.CONFIG


@dataclass(frozen=True)
class Profile:
    cpu: float = 1.0
    memory: str = "2g"
    gpu: int = 0
    pids: int = 1024  # processes and threads together, kernels included
    idle_timeout: int = 0  # seconds; 0: the settings' idle_timeout applies
    gpu_shared: bool = False  # its servers may share GPUs (docker/local GPU bookkeeping)


@dataclass(frozen=True)
class RuntimeConfig:
    profiles: dict[str, Profile]
    default_profile: str
    default_image: str = ""
    allowed_images: tuple[str, ...] = ()
    idle_timeout: int = 0  # seconds; 0: never culled for idleness
    max_lifetime: int = 0  # seconds; 0: no limit
    # seconds a server with a busy kernel may go without any other activity; 0: a busy
    # kernel keeps its server however long it runs (see docs/culling.md)
    busy_timeout: int = 0

    def idle_timeout_of(self, profile: str) -> int:
        """The idle timeout for servers of ``profile``: its own, else the global one."""
        own = self.profiles[profile].idle_timeout if profile in self.profiles else 0
        return own or self.idle_timeout

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["allowed_images"] = list(self.allowed_images)
        return body


def _bad(detail: str) -> Problem:
    return Problem(400, "config-invalid", "Invalid settings", detail)


def _seconds(body: dict[str, Any], name: str, where: str = "") -> int:
    value = body.get(name, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 365 * 86400:
        raise _bad(f"{where}'{name}' must be a whole number of seconds from 0 (off) to one year.")
    return value


def parse(body: object) -> RuntimeConfig:
    """Validate a settings document; a :class:`Problem` (400) names the first bad field."""
    if not isinstance(body, dict):
        raise _bad("The settings must be a JSON object.")
    raw_profiles = body.get("profiles")
    if not isinstance(raw_profiles, dict) or not raw_profiles:
        raise _bad("'profiles' must be an object with at least one profile by name.")
    profiles: dict[str, Profile] = {}
    for name, spec in raw_profiles.items():
        if not isinstance(name, str) or not PROFILE_RE.fullmatch(name):
            raise _bad(f"Profile name {str(name)[:40]!r}: use 1-32 characters of a-z 0-9 _ -.")
        if not isinstance(spec, dict):
            raise _bad(f"Profile {name!r} must be an object with cpu, memory and gpu.")
        cpu, memory, gpu = spec.get("cpu", 1.0), spec.get("memory", "2g"), spec.get("gpu", 0)
        pids = spec.get("pids", Profile.pids)
        if not isinstance(cpu, int | float) or isinstance(cpu, bool) or not 0 < cpu <= 256:
            raise _bad(f"Profile {name!r}: cpu must be a number of cores above 0 (up to 256).")
        if not isinstance(memory, str) or not MEMORY_RE.fullmatch(memory):
            raise _bad(f"Profile {name!r}: memory must look like 512m or 4g.")
        if not isinstance(gpu, int) or isinstance(gpu, bool) or not 0 <= gpu <= 16:
            raise _bad(f"Profile {name!r}: gpu must be a whole number from 0 to 16.")
        if not isinstance(pids, int) or isinstance(pids, bool) or not 64 <= pids <= 1_000_000:
            raise _bad(f"Profile {name!r}: pids must be a whole number from 64 to 1000000.")
        shared = spec.get("gpu_shared", False)
        if not isinstance(shared, bool):
            raise _bad(f"Profile {name!r}: gpu_shared must be true or false.")
        idle = _seconds(spec, "idle_timeout", f"Profile {name!r}: ")
        profiles[name] = Profile(float(cpu), memory.lower(), gpu, pids, idle, shared)
    default = body.get("default_profile", next(iter(profiles)))
    if not isinstance(default, str) or default not in profiles:
        raise _bad(f"'default_profile' must name one of the profiles ({', '.join(profiles)}).")
    images = body.get("allowed_images", [])
    if not isinstance(images, list) or not all(is_image(i) for i in images):
        raise _bad("'allowed_images' must be a list of image references like repo/name:tag.")
    default_image = body.get("default_image", "")
    if not isinstance(default_image, str) or (default_image and default_image not in images):
        raise _bad("'default_image' must be one of 'allowed_images' (or empty).")
    return RuntimeConfig(
        profiles=profiles,
        default_profile=default,
        default_image=default_image,
        allowed_images=tuple(images),
        idle_timeout=_seconds(body, "idle_timeout"),
        max_lifetime=_seconds(body, "max_lifetime"),
        busy_timeout=_seconds(body, "busy_timeout"),
    )


class ConfigStore:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self._warned: str | None = None
        self.fallback = RuntimeConfig(
            profiles={name: Profile() for name in settings.profiles},
            default_profile=settings.profiles[0],
        )

    def get(self) -> RuntimeConfig:
        raw = self.client.get(CONFIG_KEY)
        if not raw:
            return self.fallback
        body: Any = None
        try:
            body = json.loads(str(raw))
            return parse(body)
        except (ValueError, Problem) as error:
            # Never stored unvalidated: edited by hand, or saved by an older version with
            # looser rules (image references). Keep what is still valid, and say so once.
            return self._salvage(str(raw), body if isinstance(body, dict) else None, error)

    def _salvage(self, raw: str, body: dict[str, Any] | None, error: Exception) -> RuntimeConfig:
        kept = self.fallback
        if body is not None:
            listed = body.get("allowed_images")
            images = [i for i in listed if is_image(i)] if isinstance(listed, list) else []
            default = body.get("default_image")
            default = default if isinstance(default, str) and default in images else ""
            try:
                kept = parse({**body, "allowed_images": images, "default_image": default})
            except (ValueError, Problem):
                kept = self.fallback
        if self._warned != raw:
            self._warned = raw
            log.warning(
                "the run-time settings in Redis (%s) are not valid (%s); using %s until an "
                "administrator saves them again from Nextcloud's admin settings",
                CONFIG_KEY,
                getattr(error, "detail", error),
                "them without the images that are not valid"
                if kept is not self.fallback
                else "the defaults",
            )
        return kept

    def put(self, config: RuntimeConfig) -> None:
        self.client.set(CONFIG_KEY, json.dumps(config.to_dict()))

    def profiles(self) -> tuple[str, ...]:
        return tuple(self.get().profiles)
