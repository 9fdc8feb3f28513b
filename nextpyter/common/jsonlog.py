"""What every log line carries besides its message: the request id it belongs to, the
JSON line format (``NEXTPYTER_LOG_FORMAT=json``), and the redaction of secrets.

The request id is one per sidecar request (an incoming ``X-Request-Id`` if it is a sane
one, else a new one), kept in :data:`REQUEST_ID` (a context variable): the launch thread
runs in a copy of the request's context, the pull job it queues records it
(``pullqueue.Job.request_id``), and pagletto sets it while it pulls that job, so one id
follows a launch from the browser's request through the runtime calls to the pull.

Redaction is defence in depth: the code never logs a secret on purpose, and
:class:`Redact` scrubs what looks like one (a launch or admin token, an API token, a
session cookie, a password or key in a URL or a ``key=value``, a registry credential)
and every value given to :func:`never_log` (the secret key, Redis's password) from every
record before it is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import threading
import time
from typing import Any

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
REQUEST_ID_HEADER = "X-Request-Id"
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
MASK = "[redacted]"

_PATTERNS = (
    # JWTs (launch and admin tokens): three base64url parts, the first a JSON header.
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    # API tokens.
    re.compile(r"npt_[a-z0-9]{12}_[A-Za-z0-9_-]{20,}"),
    # Authorization and cookie values, whatever the scheme.
    re.compile(r"(?i)((?:authorization|cookie|set-cookie)[\"']?\s*[:=]\s*[\"']?)[^\"'\n]+"),
    re.compile(r"(?i)(nextpyter_session=)[^;\s\"']+"),
    # key=value and "key": "value" where the key says it is secret.
    re.compile(
        r"(?i)([\"']?(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|auth|"
        r"identitytoken|registrytoken|credentials?)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]+"
    ),
    # A password in a URL (redis://:pw@host, https://user:pw@registry).
    re.compile(r"(//[^/@\s:]*:)[^@/\s]+(@)"),
    # PEM private keys.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def never_log(*values: str | None) -> None:
    """Values (at least 6 characters) that no log line may show, wherever they appear."""
    with _secrets_lock:
        _secrets.update(v for v in values if v and len(v) >= 6)


def redact(text: str) -> str:
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: m.group(1) + MASK + m.group(2), text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text


def new_request_id() -> str:
    return secrets.token_hex(8)


def accept_request_id(raw: str | None) -> str:
    """``raw`` if it is a sane request id (8 to 64 of letters, digits, ``._:-``), else a
    new one."""
    return raw if raw and _VALID_ID.fullmatch(raw) else new_request_id()


class Context(logging.Filter):
    """Adds ``request_id`` to every record, and redacts its message (arguments merged in)
    and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what logging would show
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message,
    request_id, pid; and the traceback (``exception``) if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
            "pid": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = redact(record.exc_text)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The line format, with the record's request id when it has one, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
