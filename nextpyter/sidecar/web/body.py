"""The one reader of request bodies: every view that reads JSON or a form reads it here.

A body is read once, with the app's size limit (``MAX_CONTENT_LENGTH``, 64 KiB) enforced
whether or not the client sent a ``Content-Length`` (a chunked body is read up to the
limit and one byte more, then refused). JSON is then decoded as strict UTF-8 and parsed
with a bound on nesting, checked before parsing, so no body can reach the parser's
recursion limit. Whatever is wrong, the answer is a 4xx :class:`Problem` saying what
and what to do: 413 naming the limit, 400 for a body that is not JSON, not an object, or
nested too deep. Nothing has been read by anyone else before it, so a refused body
changes nothing.
"""

from __future__ import annotations

import io
import json
from typing import Any

from flask import current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from ..problems import Problem

DEFAULT_LIMIT = 64 * 1024
MAX_DEPTH = 32  # arrays and objects inside each other; the API's own bodies need 3
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def limit() -> int:
    configured = current_app.config.get("MAX_CONTENT_LENGTH")
    return int(configured) if configured else DEFAULT_LIMIT


def too_large(size_limit: int) -> Problem:
    return Problem(
        413,
        "body-too-large",
        "Request too large",
        f"The request body is over {size_limit // 1024} KiB ({size_limit} bytes), the most "
        "NextPyter reads. A launch token is at most 8 KiB: send it as it came from Nextcloud, "
        "with nothing else in the body.",
        limit=size_limit,
    )


def _malformed(detail: str, example: str) -> Problem:
    return Problem(400, "body-invalid", "Malformed request", f"{detail} Send {example}.")


def read_bytes() -> bytes:
    """The body, at most :func:`limit` bytes; a :class:`Problem` 413 if it is larger."""
    size_limit = limit()
    cached = request.environ.get("nextpyter.body")
    if isinstance(cached, bytes):
        return cached
    length = request.content_length
    if length is not None and length > size_limit:
        raise too_large(size_limit)
    try:
        if length is None and request.environ.get("wsgi.input_terminated"):
            # Chunked: the server ends the stream; read one byte past the limit to know.
            data = request.environ["wsgi.input"].read(size_limit + 1)
        else:
            data = request.stream.read(size_limit + 1)
    except RequestEntityTooLarge:
        raise too_large(size_limit) from None
    if len(data) > size_limit:
        raise too_large(size_limit)
    request.environ["nextpyter.body"] = data
    return bytes(data)


def nesting_depth(data: bytes) -> int:
    """How deep arrays and objects nest in ``data`` (brackets inside strings not counted);
    a scan without recursion, so it is safe on any input."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(example: str = "a JSON object") -> dict[str, Any]:
    """The body as a JSON object, or a :class:`Problem` (400, 413) a person can act on.

    ``example`` is what the caller should have sent, for the message."""
    data = read_bytes()
    if not data.strip():
        raise _malformed("The request has no body.", example)
    if nesting_depth(data) > MAX_DEPTH:
        raise _malformed(
            f"The JSON body nests arrays or objects more than {MAX_DEPTH} deep.", example
        )
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise _malformed("The body is not UTF-8 text.", example) from None
    except (ValueError, RecursionError) as error:
        raise _malformed(f"The body is not valid JSON ({str(error)[:80]}).", example) from None
    if not isinstance(body, dict):
        raise _malformed(f"The body must be a JSON object, not {type(body).__name__}.", example)
    return body


def read_form() -> MultiDict[str, str]:
    """The body as form fields (urlencoded or multipart), read with the same limit."""
    data = read_bytes()
    parser = FormDataParser(max_content_length=limit(), max_form_parts=100)
    try:
        _, form, _ = parser.parse(
            io.BytesIO(data), request.mimetype, len(data), request.mimetype_params
        )
    except RequestEntityTooLarge:
        raise too_large(limit()) from None
    except ValueError:
        raise _malformed("The form could not be read.", "a form with a 'token' field") from None
    return form
