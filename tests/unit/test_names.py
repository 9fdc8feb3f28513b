"""Slugs, user ids and the paths built from them."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from nextpyter.sidecar.paths import PathRejected, user_files_dir, validate_relative_path
from nextpyter.sidecar.slugs import InvalidUserId, is_slug, slug_for, validate_user_id

ODD_IDS = [
    "alice",
    "Alice",
    "alice--x",
    "a.b",
    "a_b",
    "a b",
    "a-b",
    "a@b.example",
    "o'neil",
    "O'Neil",
    "1",
    "0",
    "-",
    "_",
    "__",
    "a" * 64,
    "A" * 64,
    "a" * 40,
    "a" * 41,
    "x-",
    "-x",
    "ALICE",
    "al ice",
    "al  ice",
    "al-ice",
    "al_ice",
    "al.ice",
    "al@ice",
    "u",
    "u--0123456789ab",
    "Zoë"[:2],
    "user name with spaces",
    "it's",
    "..a",
    "a..b",
]


@pytest.mark.parametrize("user_id", ODD_IDS)
def test_slug_is_dns_safe(user_id: str) -> None:
    slug = slug_for(user_id)
    assert is_slug(slug) and len(slug) <= 42, slug
    assert len(f"nextpyter-{slug}") <= 63
    assert slug == slug_for(user_id)  # deterministic


def test_slugs_never_collide_regression() -> None:
    """Regression: escaping alone maps 'a b', 'a-b', 'a_b', 'A-B' and 'a--b…' together."""
    ids = set(ODD_IDS)
    for a, b in itertools.product(["a", "A", "-", "_", " ", ".", "@", "'"], repeat=2):
        ids.add(f"x{a}{b}y")
    slugs = {}
    for user_id in ids:
        slug = slug_for(user_id)
        assert slug not in slugs, f"{user_id!r} and {slugs[slug]!r} share the slug {slug!r}"
        slugs[slug] = user_id


def test_plain_ids_keep_their_name() -> None:
    assert slug_for("alice") == "alice"
    assert slug_for("bob-2") == "bob-2"
    assert slug_for("Alice").startswith("alice--")
    assert slug_for("a--b") != "a--b"  # '--' is reserved for hashed slugs


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " alice",
        "alice ",
        "a/b",
        "a\\b",
        "a\x00b",
        "a\nb",
        "a" * 65,
        ".",
        "..",
        "ä",
        "a;b",
        "$(id)",
        "a`b`",
        None,
        5,
    ],
)
def test_invalid_user_ids(bad: object) -> None:
    with pytest.raises(InvalidUserId):
        validate_user_id(bad)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("", ""),
        ("a.ipynb", "a.ipynb"),
        ("./a/./b", "a/b"),
        ("a//b/", "a/b"),
        ("dir with space/x", "dir with space/x"),
    ],
)
def test_relative_paths(raw: str, clean: str) -> None:
    assert validate_relative_path(raw) == clean


@pytest.mark.parametrize(
    "bad", ["/abs", "..", "a/../../b", "a\x00", "a\\b", "a\x1fb", "x" * 5000, 3]
)
def test_refused_paths(bad: object) -> None:
    with pytest.raises(PathRejected):
        validate_relative_path(bad)


def test_user_files_dir_stays_in_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "alice" / "files").mkdir(parents=True)
    assert user_files_dir(data, "alice") == (data / "alice" / "files").resolve()
    # A symlinked user folder (pointing at another user's files, or anywhere) is refused.
    (data / "bob" / "files").mkdir(parents=True)
    os.symlink(data / "bob", data / "mallory")
    with pytest.raises(PathRejected):
        user_files_dir(data, "mallory")
    (data / "eve").mkdir()
    os.symlink(tmp_path, data / "eve" / "files")
    with pytest.raises(PathRejected):
        user_files_dir(data, "eve")
    with pytest.raises(InvalidUserId):
        user_files_dir(data, "../alice")


def test_local_process_spec_whole(tmp_path: Path) -> None:
    """The local backend's command and environment, compared whole: nothing else reaches
    the server (no token, no sidecar setting), and the raw user id only as data."""
    from nextpyter.sidecar.runtime import ServerSpec
    from nextpyter.sidecar.runtime.local import CONFIG_FILE, build_process_spec

    spec = ServerSpec(
        user_id="Ann O'Neil",
        slug=slug_for("Ann O'Neil"),
        profile="default",
        files_dir=tmp_path / "files",
        secret="s3cret",
    )
    run = tmp_path / "run"
    command, env = build_process_spec(spec, run, "/usr/bin/python3", "inst:ann:0")
    root = ["--allow-root"] if os.geteuid() == 0 else []
    assert command == [
        "/usr/bin/python3",
        "-m",
        "jupyter_server",
        f"--config={CONFIG_FILE}",
        f"--ServerApp.sock={run}/jupyter.sock",
        "--ServerApp.sock_mode=0600",
        f"--ServerApp.base_url=/user/{spec.slug}/",
        f"--ServerApp.root_dir={tmp_path}/files",
        *root,
    ]
    assert env == {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": f"{run}/home",
        "JUPYTER_RUNTIME_DIR": f"{run}/runtime",
        "JUPYTER_DATA_DIR": f"{run}/data",
        "JUPYTER_CONFIG_DIR": f"{run}/config",
        "IPYTHONDIR": f"{run}/home/.ipython",
        "_NEXTPYTER_GATEWAY_SECRET_FILE": f"{run}/gateway-secret",
        "_NEXTPYTER_USER_ID": "Ann O'Neil",
        "PYTHONUNBUFFERED": "1",
        "_NEXTPYTER_SERVER": "inst:ann:0",
    }
    assert "s3cret" not in " ".join(command) + " ".join(env.values())
