"""User ids and the slugs every runtime name is built from.

Guarantees of :func:`slug_for`:

* always a valid DNS label (RFC 1123): ``[a-z0-9-]``, starting and ending with
  a letter or digit, at most 42 characters, so ``nextpyter-<slug>`` still fits
  the 63 characters of a Kubernetes or DNS name;
* never colliding: an id that is already a safe name (lower case, no ``--``,
  short) is its own slug; any other id becomes a sanitised prefix, ``--`` and
  a hash of the whole id. A plain slug never contains ``--`` and a hashed one
  always does, so the two families cannot meet, and two hashed slugs meet only
  if their 48-bit hashes do;
* deterministic: the same id always gives the same slug, on every replica,
  without a table.

The raw id never reaches a shell, a file name or a URL; only its slug does.
"""

from __future__ import annotations

import hashlib
import re

# Nextcloud user ids: letters, digits, space and _ . @ - ' (at most 64).
USER_ID_RE = re.compile(r"[A-Za-z0-9 _.@'\-]{1,64}")
SLUG_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?")

_PLAIN_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?")
_UNSAFE_RUN = re.compile(r"[^a-z0-9]+")
_PREFIX_LEN = 28
_HASH_LEN = 12


class InvalidUserId(ValueError):
    """The string is not a Nextcloud user id."""


def validate_user_id(user_id: object) -> str:
    """Return ``user_id`` if it is a valid Nextcloud user id, else raise."""
    if not isinstance(user_id, str) or not USER_ID_RE.fullmatch(user_id):
        raise InvalidUserId(
            "a user id has 1 to 64 characters: letters, digits, space and _ . @ - '"
        )
    if user_id.strip() != user_id or user_id in {".", ".."}:
        # Nextcloud trims ids; "." and ".." would name directories, not users.
        raise InvalidUserId("a user id cannot start or end with a space, or be '.' or '..'")
    return user_id


def slug_for(user_id: str) -> str:
    """The DNS-safe, collision-free slug of a (validated) user id."""
    validate_user_id(user_id)
    if _PLAIN_RE.fullmatch(user_id) and "--" not in user_id:
        return user_id
    prefix = _UNSAFE_RUN.sub("-", user_id.lower()).strip("-")[:_PREFIX_LEN].strip("-")
    digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:_HASH_LEN]
    return f"{prefix or 'u'}--{digest}"


def is_slug(value: str) -> bool:
    """Whether ``value`` has the form of a slug (used on URL segments)."""
    return bool(SLUG_RE.fullmatch(value))
