"""The layout's rules, checked on the source (the Python twin of the app's ArchitectureTest).

- ``nextpyter.common`` imports neither service (nor the pull queue built on it);
- ``nextpyter.pullqueue`` imports only ``nextpyter.common``;
- ``nextpyter.sidecar`` and ``nextpyter.pagletto`` never import each other;
- ``nextpyter.jupyter`` (copied into every container) imports nothing of NextPyter's but
  itself;
- nothing shipped imports ``devtools`` or ``tests``, or names the tools only development
  uses (debootstrap, network namespaces, tc);
- only ``nextpyter/common/keys.py`` spells a Redis key's ``nextpyter:`` prefix.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "nextpyter"
SHIPPED = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, absolute, wherever in the file the import is."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base)
                found = f"{prefix}.{node.module}" if node.module else prefix
            else:
                found = node.module or ""
            yield found
            # `from . import pullqueue` imports a module, not a name
            yield from (f"{found}.{alias.name}" for alias in node.names)


def imported_by(folder: str) -> dict[str, set[str]]:
    return {
        module_name(path): set(imports(path))
        for path in SHIPPED
        if module_name(path) == folder or module_name(path).startswith(folder + ".")
    }


def offending(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in imported_by(folder).items()
        for target in targets
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    )


def test_the_package_is_where_the_rules_look() -> None:
    names = {module_name(path) for path in SHIPPED}
    for expected in (
        "nextpyter.common.keys",
        "nextpyter.pullqueue",
        "nextpyter.jupyter.identity",
        "nextpyter.sidecar.app",
        "nextpyter.pagletto.worker",
    ):
        assert expected in names
    # A rule can fail: the import scanner sees relative imports as what they are.
    assert "nextpyter.common.keys" in set(imports(PACKAGE / "pullqueue.py"))


def test_common_imports_no_service() -> None:
    assert (
        offending(
            "nextpyter.common", ("nextpyter.sidecar", "nextpyter.pagletto", "nextpyter.pullqueue")
        )
        == []
    )


def test_the_pull_queue_builds_on_common_only() -> None:
    assert (
        offending(
            "nextpyter.pullqueue", ("nextpyter.sidecar", "nextpyter.pagletto", "nextpyter.jupyter")
        )
        == []
    )


def test_the_services_never_import_each_other() -> None:
    assert offending("nextpyter.sidecar", ("nextpyter.pagletto",)) == []
    assert offending("nextpyter.pagletto", ("nextpyter.sidecar",)) == []


def test_what_runs_in_a_users_server_imports_nothing_else_of_ours() -> None:
    others = ("nextpyter.common", "nextpyter.sidecar", "nextpyter.pagletto", "nextpyter.pullqueue")
    assert offending("nextpyter.jupyter", others) == []


def test_nothing_shipped_imports_dev_or_test_code() -> None:
    assert offending("nextpyter", ("devtools", "tests")) == []


@pytest.mark.parametrize("word", ["debootstrap", "netns", '"tc"', "'tc'"])
def test_nothing_shipped_names_the_development_tools(word: str) -> None:
    assert [
        str(path.relative_to(REPO)) for path in SHIPPED if word in path.read_text(encoding="utf-8")
    ] == []


def _key_literals(path: Path) -> Iterator[int]:
    """Lines of string literals (or f-strings) that start with the Redis prefix."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith("nextpyter:"):
                yield node.lineno
        elif isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith("nextpyter:"):
                yield node.lineno


def test_only_the_keys_module_spells_the_redis_prefix() -> None:
    keys_module = PACKAGE / "common" / "keys.py"
    assert list(_key_literals(keys_module)), "the keys module itself must spell it"
    assert [
        f"{path.relative_to(REPO)}:{line}"
        for path in SHIPPED
        if path != keys_module
        for line in _key_literals(path)
    ] == []
