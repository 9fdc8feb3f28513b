"""The settings table (nextpyter/common/settings.py) against everything that reads, sets or
names a ``NEXTPYTER_*`` variable: the shipped code (read with ``ast``), the compose
deployment and the gateway template (their ``${…}``), the development tools, and the docs,
whose reference must be what the table makes (``python -m devtools.docs``).

Read from the source, so no process, socket or Redis.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools import docs
from nextpyter.common.env import PREFIX, ConfigError
from nextpyter.common.settings import INTERNAL, RENAMED, SECTIONS, SETTINGS_TABLE, Setting
from nextpyter.pagletto.config import load_settings as load_pull_settings
from nextpyter.sidecar.config import load_settings

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "nextpyter"
COMPOSE = REPO / "compose"
SHIPPED = {setting.variable: setting for setting in SETTINGS_TABLE}
DEVELOPMENT = {setting.variable: setting for setting in docs.DEVELOPMENT}
EVERY = {**SHIPPED, **DEVELOPMENT}
PYTHON_SERVICES = {"sidecar", "pagletto", "nextpyter-admin"}

# A variable's name; not a pattern such as NEXTPYTER_DOCKER_* or NEXTPYTER_….
NAME = r"(?<![A-Za-z0-9_])_?NEXTPYTER_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_*…])"
NAME_RE = re.compile(NAME)
SERVICE_LINK_RE = re.compile(r"NEXTPYTER_[A-Z0-9_]+_(PORT|SERVICE_HOST|SERVICE_PORT)(_[A-Z0-9_]+)?")
# The readers of nextpyter.common.settings and .env: (env, name, ...).
READERS = {"get", "text", "secret", "integer", "number", "boolean", "directory"}


@dataclass(frozen=True)
class Read:
    name: str  # with the prefix
    path: Path
    literal_default: str | None = None  # os.environ.get(name, "<this>"), get(env, name, "<this>")
    literal_range: tuple[Any, Any] | None = None  # integer(env, name, default, <low>, <high>)


def _literal(node: ast.expr) -> Any:
    """A constant's value (``-5`` and ``2**31 - 1`` included); None if it is not one."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        if isinstance(node, ast.BinOp):  # 2**31 - 1, 12 * 3600
            left, right = _literal(node.left), _literal(node.right)
            if isinstance(left, int) and isinstance(right, int):
                ops = {ast.Pow: pow, ast.Sub: int.__sub__, ast.Mult: int.__mul__}
                for op, apply in ops.items():
                    if isinstance(node.op, op):
                        return apply(left, right)
        return None


def python_reads(path: Path, constants: bool = True) -> Iterator[Read]:
    """The variables ``path`` reads: reader calls with a name (``integer(env, "X")``, or
    any helper called as ``f(env, "X", …)``), ``PREFIX + "X"``, and string constants that
    are a whole variable's name (what ``os.environ.get(...)`` or
    ``MARKER = "_NEXTPYTER_SERVER"`` spell)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if constants and isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(NAME, node.value):
                yield Read(node.value, path)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = node.left, node.right
            prefixed = isinstance(left, ast.Name) and left.id == "PREFIX"
            value = right.value if isinstance(right, ast.Constant) else None
            # (keys.py's own PREFIX is Redis's, and lower case)
            if prefixed and isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
                yield Read(PREFIX + value, path)
        elif isinstance(node, ast.Call):
            func, args = node.func, node.args
            on_env = bool(args) and isinstance(args[0], ast.Name) and args[0].id == "env"
            reader = isinstance(func, ast.Name) and (func.id in READERS or on_env)
            if reader and isinstance(func, ast.Name) and len(args) >= 2:
                name = args[1]
                value = name.value if isinstance(name, ast.Constant) else None
                if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
                    given = [_literal(arg) for arg in args[2:5]]
                    yield Read(
                        PREFIX + value,
                        path,
                        None if not given or given[0] is None else _spelled(given[0]),
                        (given[1], given[2]) if len(given) == 3 else None,
                    )
                    if func.id == "secret":
                        yield Read(f"{PREFIX}{value}_FILE", path)
            attr = func.attr if isinstance(func, ast.Attribute) else ""
            if attr in {"get", "getenv", "pop"} and len(args) == 2:
                name, fallback = args
                value = name.value if isinstance(name, ast.Constant) else None
                named = isinstance(value, str) and re.fullmatch(NAME, value)
                if named and isinstance(value, str) and isinstance(fallback, ast.Constant):
                    yield Read(value, path, str(fallback.value))


def _spelled(value: Any) -> str:
    """A default as the environment would spell it."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def package_reads() -> list[Read]:
    # The table's own module names every variable as data; only its readers read.
    table = PACKAGE / "common" / "settings.py"
    return [
        read
        for path in sorted(PACKAGE.rglob("*.py"))
        for read in python_reads(path, constants=path != table)
    ]


def devtools_reads() -> list[Read]:
    return [
        read for path in sorted((REPO / "devtools").rglob("*.py")) for read in python_reads(path)
    ]


def shell_reads(paths: Iterable[Path]) -> set[str]:
    """``$NAME``, ``${NAME…}`` and PHP's ``getenv("NAME")`` (never compose's ``$${…}``,
    which it hands to the container's shell)."""
    found: set[str] = set()
    for path in paths:
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(rf"(?<!\$)\$\{{?({NAME})", text))
        found |= set(re.findall(rf'getenv\("({NAME})"\)', text))
    return found


def compose_files() -> list[Path]:
    return sorted(COMPOSE.glob("*.yml"))


READERS_OUTSIDE_PYTHON: dict[str, list[Path]] = {
    "compose": [*compose_files(), *sorted((COMPOSE / "init").glob("*.sh"))],
    "engine": [COMPOSE / "engine" / "nextpyter-engine"],
    "nextcloud hook": sorted((COMPOSE / "nextcloud" / "hooks").rglob("*.sh")),
    "gateway": sorted((REPO / "gateway").glob("*.template")),
}


def allowed_services(path: Path) -> set[str]:
    """Which readers a read in ``path`` may be (common code: any of the services')."""
    relative = path.relative_to(PACKAGE).as_posix()
    if relative.startswith("pagletto/"):
        return {"pagletto"}
    if relative == "sidecar/cli.py":
        return {"sidecar", "nextpyter-admin"}
    if relative.startswith("sidecar/"):
        return {"sidecar"}
    return PYTHON_SERVICES


# -- the table itself ----------------------------------------------------------------------
def test_each_setting_is_complete_and_consistent() -> None:
    names = [setting.name for setting in (*SETTINGS_TABLE, *docs.DEVELOPMENT)]
    assert len(names) == len(set(names)), "a name twice"
    sections = {section.key for section in (*SECTIONS, docs.DEVELOPMENT_SECTION)}
    problems = []
    for setting in (*SETTINGS_TABLE, *docs.DEVELOPMENT):
        where = setting.variable
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*[A-Z0-9]", setting.name):
            problems.append(f"{where}: not a name (give it without {PREFIX})")
        if len(setting.meaning.strip()) < 10 or not setting.meaning.rstrip().endswith("."):
            problems.append(f"{where}: no meaning (a sentence)")
        if setting.section not in sections:
            problems.append(f"{where}: section {setting.section!r} is not one of {sections}")
        if not setting.services:
            problems.append(f"{where}: read by nothing")
        if setting.required and (setting.default is not None or setting.shown):
            problems.append(f"{where}: required, but with a default")
        problems += _kind_problems(setting)
    assert problems == []


def _kind_problems(setting: Setting) -> list[str]:
    where, default = setting.variable, setting.default
    if setting.kind in ("integer", "number"):
        if setting.low is None or setting.high is None:
            # Only the serving flags' counts, which nextpyter-sidecar's argparse reads.
            return [] if setting.section == "serving" else [f"{where}: no range"]
        convert = int if setting.kind == "integer" else float
        if default is None or not setting.low <= convert(default) <= setting.high:
            return [f"{where}: default {default!r} outside {setting.low}..{setting.high}"]
    if setting.kind == "boolean" and default not in ("true", "false"):
        return [f"{where}: a boolean's default is true or false"]
    if setting.kind == "choice" and default not in setting.choices:
        return [f"{where}: default {default!r} is not one of {setting.choices}"]
    if setting.kind != "choice" and setting.choices:
        return [f"{where}: choices without kind='choice'"]
    return []


def test_internal_and_renamed_names_are_not_settings() -> None:
    assert all(name.startswith("_" + PREFIX) and meaning for name, meaning in INTERNAL.items())
    for old, new in RENAMED.items():
        assert old not in EVERY and new in SHIPPED, old


# -- the code reads what the table has, and nothing else -------------------------------------
def test_every_variable_the_package_reads_is_in_the_table() -> None:
    reads = package_reads()
    unknown = sorted(
        {
            f"{read.name} ({read.path.relative_to(REPO)})"
            for read in reads
            if read.name not in SHIPPED and read.name not in INTERNAL
        }
    )
    assert unknown == [], "add them to nextpyter/common/settings.py (or INTERNAL)"
    # Nor does the shipped code read a development variable, which the table leaves out.
    assert {read.name for read in reads} & set(DEVELOPMENT) == set()


def test_each_read_is_by_a_service_the_table_names() -> None:
    wrong = sorted(
        f"{read.name} read in {read.path.relative_to(REPO)}, but the table says "
        f"it is read by {', '.join(SHIPPED[read.name].services)}"
        for read in package_reads()
        if read.name in SHIPPED
        and not set(SHIPPED[read.name].services) & allowed_services(read.path)
    )
    assert wrong == []


def test_every_setting_is_read_where_the_table_says() -> None:
    """No stale entry: each is read by each of its readers (the Python services by the
    package, the others by their files), and each of those reads only its own."""
    by_python = {read.name for read in package_reads()}
    outside = {
        service: shell_reads(paths) - set(RENAMED)
        for service, paths in READERS_OUTSIDE_PYTHON.items()
    }
    problems = []
    for setting in SETTINGS_TABLE:
        listed = bool(set(setting.services) & PYTHON_SERVICES)
        if listed != (setting.variable in by_python):
            problems.append(f"{setting.variable}: the table says the package reads it: {listed}")
        for service, names in outside.items():
            listed = service in setting.services
            if listed != (setting.variable in names):
                problems.append(f"{setting.variable}: the table says {service} reads it: {listed}")
    assert problems == []
    for service, names in outside.items():
        assert names - set(SHIPPED) - set(INTERNAL) == set(), service


def test_the_development_tools_read_their_variables_and_known_ones() -> None:
    names = {read.name for read in devtools_reads()}
    makefile = set(NAME_RE.findall((REPO / "Makefile").read_text(encoding="utf-8")))
    assert set(DEVELOPMENT) - names - makefile == set(), "in docs.DEVELOPMENT, read nowhere"
    assert names - set(EVERY) - set(INTERNAL) == set(), "add them to devtools/docs.py"


def test_literal_defaults_in_the_code_are_the_tables() -> None:
    """Where a variable is read with a default (or range) of its own, not the table's
    (``os.environ.get(name, "2")`` for the serving flags and the development tools, or the
    env readers with a default: ``integer(env, "X", 5, 0, 300)``), it is the table's."""
    differing = []
    for read in (*package_reads(), *devtools_reads()):
        if read.name not in EVERY or (read.literal_default, read.literal_range) == (None, None):
            continue
        setting = EVERY[read.name]
        where = f"{read.path.relative_to(REPO)}: {read.name}"
        wanted = "" if setting.default is None else setting.default
        given = read.literal_default
        if setting.kind in ("integer", "number") and given is not None and wanted:
            same = float(given) == float(wanted)
        else:
            same = given is None or given == wanted
        if not same:
            differing.append(f"{where} defaults to {given!r}, the table to {wanted!r}")
        if read.literal_range is not None and read.literal_range != (setting.low, setting.high):
            differing.append(
                f"{where} has the range {read.literal_range}, the table "
                f"{(setting.low, setting.high)}"
            )
    assert differing == []


def test_the_loaders_keep_their_messages_with_the_tables_ranges(tmp_path: Path) -> None:
    base = {
        "NEXTPYTER_SECRET_KEY": "s" * 40,
        "NEXTPYTER_DATA_DIR": str(tmp_path),
        "NEXTPYTER_JWKS": "/etc/nextpyter/jwks.json",
        "NEXTPYTER_TOKEN_ISSUER": "https://cloud.example",
    }
    cases = [
        ("NEXTPYTER_CLOCK_SKEW", "9999", "NEXTPYTER_CLOCK_SKEW=9999 is out of range (0 to 300)"),
        ("NEXTPYTER_CLOCK_SKEW", "x", "NEXTPYTER_CLOCK_SKEW='x' is not a whole number"),
        ("NEXTPYTER_COOKIE_SECURE", "maybe", "is not a boolean (use true or false)"),
        ("NEXTPYTER_RUNTIME_DIR", "run", "NEXTPYTER_RUNTIME_DIR=run must be an absolute path"),
        ("NEXTPYTER_REDIS_URL", "x", "NEXTPYTER_REDIS_URL must start with redis://"),
    ]
    for name, value, message in cases:
        with pytest.raises(ConfigError) as caught:
            load_settings({**base, name: value})
        assert message in str(caught.value)
    with pytest.raises(ConfigError, match=r"NEXTPYTER_JWKS is required but not set"):
        load_settings({k: v for k, v in base.items() if k != "NEXTPYTER_JWKS"})
    pull_cases = [
        ("NEXTPYTER_PULL_CLAIM_IDLE", "0.1", "=0.1 is out of range (0.5 to 86400)"),
        ("NEXTPYTER_PULL_BACKOFF", "x", "='x' is not a number (of seconds)"),
        ("NEXTPYTER_PULL_RETRIES", "101", "=101 is out of range (0 to 100)"),
    ]
    for name, value, message in pull_cases:
        with pytest.raises(ConfigError, match=re.escape(name + message)):
            load_pull_settings({name: value})
    # The table's defaults are what an empty environment gives.
    pull = load_pull_settings({"NEXTPYTER_PULL_WORKER_NAME": "w"})
    assert (pull.claim_idle, pull.max_deliveries, pull.retries) == (60.0, 5, 3)
    assert (pull.backoff, pull.backoff_max, pull.stall) == (2.0, 60.0, 300.0)
    settings = load_settings({**base, "NEXTPYTER_BACKEND": "docker", "NEXTPYTER_DOCKER_IMAGE": "a"})
    assert settings.session_max_age == 43200 and settings.docker is not None
    assert settings.docker.uid == settings.docker.gid == 33


# -- the compose deployment ------------------------------------------------------------------
def env_example() -> dict[str, str]:
    text = (COMPOSE / ".env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^#?\s*(NEXTPYTER_[A-Z0-9_]+)=(.*)$", text, re.MULTILINE))


def test_env_example_has_the_compose_settings_with_the_tables_defaults() -> None:
    example = env_example()
    compose = {s.variable: s for s in SETTINGS_TABLE if "compose" in s.services}
    assert set(example) == set(compose), "compose/.env.example and the table's 'compose'"
    for name, value in example.items():
        setting = compose[name]
        wanted = setting.compose if setting.compose is not None else setting.default
        assert value == wanted, f"{name}: .env.example says {value!r}, the table {wanted!r}"
        assert not setting.secret, f"{name}: a secret is never in compose/.env"


def test_the_compose_files_defaults_are_env_examples() -> None:
    example = env_example()
    for path in compose_files():
        text = path.read_text(encoding="utf-8")
        for name, value in re.findall(rf"(?<!\$)\$\{{({NAME}):-([^}}]*)\}}", text):
            if name in RENAMED:
                assert value == "", f"{name}: an old name is only looked at, never used"
            else:
                assert value == example[name], f"{path.name}: ${{{name}:-{value}}}"


def test_the_renamed_names_stop_the_start_and_only_that() -> None:
    files = READERS_OUTSIDE_PYTHON["compose"]
    assert set(RENAMED) <= shell_reads(files), "the secrets service is told about old names"
    secrets_script = (COMPOSE / "init" / "secrets.sh").read_text(encoding="utf-8")
    assert "_NEXTPYTER_RENAMED" in secrets_script and "exit 1" in secrets_script
    for old, new in RENAMED.items():
        assert old in secrets_script and new in secrets_script


def test_compose_gives_each_container_only_what_it_reads() -> None:
    """Every NEXTPYTER_* variable compose sets in a container is read there (by the
    service the table names), or an internal one for its scripts."""
    model: dict[str, Any] = yaml.safe_load(
        (COMPOSE / "docker-compose.yml").read_text(encoding="utf-8")
    )
    reader = {
        "sidecar": "sidecar",
        "pagletto": "pagletto",
        "engine": "engine",
        "nextcloud": "nextcloud hook",
        "gateway": "gateway",
        "secrets": "compose",
    }
    given: dict[str, set[str]] = defaultdict(set)
    for service, spec in model["services"].items():
        for name in spec.get("environment") or {}:
            if NAME_RE.fullmatch(name):
                given[service].add(name)
    problems = []
    for service, names in given.items():
        for name in sorted(names):
            if name in INTERNAL:
                continue
            setting = SHIPPED.get(name)
            if setting is None or reader.get(service) not in setting.services:
                problems.append(f"{service} gets {name}, which it does not read")
    assert problems == []


# -- the docs --------------------------------------------------------------------------------
def test_the_configuration_reference_is_what_the_table_makes() -> None:
    current = docs.DOC.read_text(encoding="utf-8")
    assert docs.regenerated(current) == current, (
        f"docs/configuration.md is out of date with the settings table: run {docs.COMMAND}"
    )


def mentioning_files() -> Iterator[Path]:
    skip = {"__pycache__", "node_modules", "build", ".git"}
    for folder in ("nextpyter", "devtools", "tests", "bench", "compose", "gateway", "k8s", "docs"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and not skip & set(path.parts) and path.suffix not in {".pyc"}:
                yield path
    yield from (REPO / "README.md", REPO / "Makefile", REPO / "nextcloud_app" / "README.md")


def test_every_variable_named_anywhere_is_documented() -> None:
    """Docs, messages, tests, scripts: a NEXTPYTER_* name is a setting, a development
    variable, an internal one, or an old name that is said to be renamed."""
    known = set(EVERY) | set(INTERNAL) | set(RENAMED)
    unknown: dict[str, set[str]] = defaultdict(set)
    for path in mentioning_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for name in set(NAME_RE.findall(text)) - known:
            # Kubernetes' service links (<SERVICE>_PORT=tcp://… for a Service named
            # nextpyter-redis), which the manifests turn off and say why.
            if path.is_relative_to(REPO / "k8s") and SERVICE_LINK_RE.fullmatch(name):
                continue
            unknown[name].add(str(path.relative_to(REPO)))
    assert dict(unknown) == {}
