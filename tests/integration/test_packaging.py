"""What `pip install .` ships, and what the sidecar and pagletto images copy: production code
only (the package ``nextpyter`` with its templates, OpenAPI document and JupyterLab
defaults), never devtools/, tests/ or bench/."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_nextpyter_package_only(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = tmp_path.glob("nextpyter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"nextpyter", next(n for n in top if n.endswith(".dist-info"))}
    for data in (
        "nextpyter/sidecar/openapi.json",
        "nextpyter/sidecar/templates/progress.html",
        "nextpyter/jupyter/lab_settings/overrides.json",
        "nextpyter/jupyter/config.py",
    ):
        assert data in names
    shipped = "\n".join(
        zipfile.ZipFile(wheel).read(name).decode("utf-8", "replace")
        for name in names
        if name.endswith(".py")
    )
    for word in ("debootstrap", "import devtools", "from devtools", "ip netns"):
        assert word not in shipped
    entry_points = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith("entry_points.txt")))
        .decode()
    )
    for script in ("nextpyter-sidecar", "nextpyter-admin", "pagletto"):
        assert f"{script} = nextpyter." in entry_points


def test_the_images_copy_the_package_and_nothing_of_development() -> None:
    dockerfile = (REPO / "compose" / "Dockerfile").read_text()
    copies = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert "nextpyter" in copies
    assert not {"devtools", "tests", "bench", "sidecar", "pagletto"} & set(copies)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"devtools", "tests", "bench"} <= set(ignored)
