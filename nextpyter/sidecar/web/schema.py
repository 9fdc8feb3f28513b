"""Requests are checked against the OpenAPI document, so the document and the code are one
definition of what the API takes.

``nextpyter/sidecar/openapi.json`` (served at ``/api/v1/openapi.json``) says each
operation's path parameters and JSON body: types, lengths, patterns, required fields,
counts. The views call :func:`checked_body` and :func:`check_path` before anything else
they do, which validate with ``jsonschema`` (Draft 2020-12, what OpenAPI 3.1 uses) against
that very document; what the code checks after it is only what a schema cannot say (a
default profile that names one of the profiles, an image reference's grammar, a token's
signature). A rule added to the document is therefore enforced at once, and a request the
document refuses never reaches the code.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from flask import request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ..problems import Problem
from .body import read_json

DOCUMENT_URI = "urn:nextpyter:openapi"
API_PREFIX = "/api/v1"
# Flask's names for path variables where the document's differ.
_PARAMETER_NAMES = {"user_id": "user"}


@functools.cache
def document() -> dict[str, Any]:
    text = resources.files("nextpyter.sidecar").joinpath("openapi.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    return registry


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/{pointer}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def document_path(rule: str) -> str:
    """The document's path for a Flask rule: ``<user_id>`` becomes ``{user}``."""

    def name(match: re.Match[str]) -> str:
        return "{" + _PARAMETER_NAMES.get(match.group(1), match.group(1)) + "}"

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", name, rule.removeprefix(API_PREFIX))


def _operation() -> tuple[str, str]:
    rule = request.url_rule
    assert rule is not None, "checked outside of a routed request"
    return document_path(rule.rule), request.method.lower()


def _message(error: ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path)
    said = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    hint = error.schema.get("description") if isinstance(error.schema, dict) else None
    text = f"'{where}': {said}" if where else said
    return f"{text} ({hint})" if isinstance(hint, str) else text


def validate(instance: Any, pointer: str) -> str | None:
    """What is wrong with ``instance`` by the schema at ``pointer`` in the document, or None."""
    error = best_match(_validator(pointer).iter_errors(instance))
    return None if error is None else _message(error)


def checked_body(code: str, title: str, example: str) -> dict[str, Any]:
    """The request's JSON body (read by :func:`~.body.read_json`), valid by the document's
    schema for this operation; else a 400 with ``code`` naming what is wrong."""
    body = read_json(example)
    path, method = _operation()
    pointer = _pointer("paths", path, method, "requestBody", "content", "application/json")
    wrong = validate(body, pointer + "/schema")
    if wrong is not None:
        raise Problem(
            400,
            code,
            title,
            f"{wrong}. Send {example}; the schema is in /api/v1/openapi.json "
            f"({method.upper()} {path}).",
        )
    return body


def check_path(name: str, value: str, status: int, code: str, title: str, detail: str) -> None:
    """A path parameter, by the document's schema for it; else ``status`` with ``detail``
    (which says what to do) after what is wrong."""
    path, method = _operation()
    wanted = _PARAMETER_NAMES.get(name, name)
    parameters = document()["paths"][path][method].get("parameters", [])
    for index, parameter in enumerate(parameters):
        if parameter.get("in") == "path" and parameter.get("name") == wanted:
            pointer = _pointer("paths", path, method, "parameters", str(index), "schema")
            wrong = validate(value, pointer)
            if wrong is not None:
                raise Problem(status, code, title, f"{wrong}. {detail}")
            return
    raise LookupError(f"{method.upper()} {path} documents no path parameter {wanted!r}")
