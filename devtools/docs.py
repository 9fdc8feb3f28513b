"""docs/configuration.md's reference, made from the settings table.

    python -m devtools.docs           rewrite the marked region of docs/configuration.md
    python -m devtools.docs --check   exit 1 if it differs from what the table makes

The region between :data:`BEGIN` and :data:`END` is generated: the shipped settings
(``nextpyter/common/settings.py``) and, last, the development variables below, which only
``make demo``, the tests and the benchmarks read (so they stay out of the shipped
package). Everything around the region is prose, kept as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nextpyter.common.settings import SECTIONS, SETTINGS_TABLE, Section, Setting, markdown

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "configuration.md"
BEGIN = (
    "<!-- settings:begin: made from nextpyter/common/settings.py by "
    "`python -m devtools.docs`; edit the table, not this -->"
)
END = "<!-- settings:end -->"
COMMAND = "make docs (.venv/bin/python -m devtools.docs)"

DEV = ("devtools",)
DEVELOPMENT_SECTION = Section(
    "development",
    "Development",
    "Read by the development tools only (`devtools/`: `make demo`, the tests, the "
    "benchmarks), never by the sidecar or pagletto.",
)
DEVELOPMENT: tuple[Setting, ...] = (
    Setting(
        "DEMO_DIR",
        ".demo",
        "`make demo`: where the demo keeps its data, keys and logs.",
        services=DEV,
        section="development",
        values="a path",
    ),
    Setting(
        "DEMO_PORT",
        "8080",
        "`make demo`: the gateway's port on localhost.",
        services=DEV,
        section="development",
        values="a port",
    ),
    Setting(
        "DEMO_BACKEND",
        "local",
        "`make demo`: the backend; `make demo-docker` sets `docker` (a private Docker engine "
        "and an image built in it).",
        kind="choice",
        choices=("local", "docker"),
        services=DEV,
        section="development",
    ),
    Setting(
        "DEV_CACHE",
        "/var/cache/nextpyter-dev",
        "The tests' and the demo's Docker engine: where its data root (with the Jupyter "
        "image built once per machine) and the test registry's storage are kept.",
        kind="path",
        services=DEV,
        section="development",
        values="a path",
    ),
    Setting(
        "DEBIAN_MIRROR",
        "http://deb.debian.org/debian",
        "The Debian mirror the test images are built from.",
        kind="url",
        services=DEV,
        section="development",
    ),
)


def reference() -> str:
    """The region's text, markers included."""
    body = markdown((*SETTINGS_TABLE, *DEVELOPMENT), (*SECTIONS, DEVELOPMENT_SECTION))
    return f"{BEGIN}\n\n{body}\n{END}"


def regenerated(text: str) -> str:
    """``text`` with its region replaced by :func:`reference`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOC.name} has no region between {BEGIN!r} and {END!r}")
    return text[:start] + reference() + text[end + len(END) :]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    wanted = regenerated(current)
    if args.check:
        if wanted != current:
            sys.exit(f"{DOC.relative_to(REPO)} is out of date: run {COMMAND}")
        return
    if wanted != current:
        DOC.write_text(wanted, encoding="utf-8")
        print(f"rewrote {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
