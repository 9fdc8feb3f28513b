"""Where a user's files are, and which paths a launch token may name.

The source of every mount or root directory is built from the validated user
id alone (``<datadir>/<uid>/files``), resolved, and checked to stay inside the
data directory. The path a token names is only ever a place to open inside
that directory, never a mount source.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path, PurePosixPath

from .slugs import validate_user_id

MAX_PATH_LENGTH = 4096
# Unicode categories no path may contain: controls (Cc: NUL, tab, U+0085...), format
# characters (Cf: bidirectional overrides such as U+202E, zero-width joiners, U+FEFF) and
# line and paragraph separators (Zl U+2028, Zp U+2029). They hide or reorder what a person
# reads. The app's PHP twin (nextcloud_app/lib/Files/PathRules.php) refuses the same.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


class PathRejected(ValueError):
    """The path is not one a launch may open."""


def validate_relative_path(path: object) -> str:
    """Return the normalised relative path (``""`` for the files root) or raise."""
    if not isinstance(path, str):
        raise PathRejected("the path must be a string")
    if len(path) > MAX_PATH_LENGTH:
        raise PathRejected(f"the path is longer than {MAX_PATH_LENGTH} characters")
    for ch in path:
        if unicodedata.category(ch) in REFUSED_CATEGORIES or "\ud800" <= ch <= "\udfff":
            raise PathRejected(
                f"the path contains the character U+{ord(ch):04X}, a control, format or "
                "line-separator character (or half of a surrogate pair) that no path may "
                "hold; rename the file or folder in Nextcloud"
            )
    if "\\" in path:
        raise PathRejected("the path contains a backslash; use / between folders")
    if path.startswith("/"):
        raise PathRejected("the path must be relative to your files folder, not absolute")
    parts = [part for part in PurePosixPath(path).parts if part != "."]
    if ".." in parts:
        raise PathRejected("the path must not contain '..'")
    return "/".join(parts)


def user_files_dir(data_dir: Path, user_id: str) -> Path:
    """``<data_dir>/<user_id>/files``, resolved, refused if it leaves ``data_dir``.

    Symlinks are refused too: the directory an admin's data layout gives a user
    is a real directory, and a link there would let a mount reach elsewhere.
    """
    validate_user_id(user_id)
    root = data_dir.resolve()
    candidate = root / user_id / "files"
    for part in (root / user_id, candidate):
        if part.is_symlink():
            raise PathRejected(f"the files folder of this user is a symbolic link ({part.name})")
    resolved = candidate.resolve()
    if resolved.parent.parent != root or not resolved.is_relative_to(root):
        raise PathRejected("the files folder of this user is outside the data directory")
    return resolved
