"""The Kubernetes manifests under k8s/, as tests read them: the sidecar's Role (one file,
k8s/base/rbac.yaml, which the backend's tests compare with the calls the API emulator
records) and the overlay rendered with kubectl's kustomize."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
ROLE_FILE = K8S / "base" / "rbac.yaml"
ROLE_NAME = "nextpyter-sidecar"
EXAMPLE = "overlays/example"


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One rule per (API group, resource), verbs sorted: the shape of
    ``KubeApi.role_rules()`` (tests/support/kubeapi.py)."""
    verbs: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                verbs.setdefault((group, resource), set()).update(rule.get("verbs", []))
    return [
        {"apiGroups": [g], "resources": [r], "verbs": sorted(v)}
        for (g, r), v in sorted(verbs.items())
    ]


def role_rules() -> list[dict[str, Any]]:
    """The namespaced rules the sidecar's service account holds (k8s/base/rbac.yaml)."""
    roles = [d for d in load_all(ROLE_FILE) if d["kind"] == "Role"]
    assert [r["metadata"]["name"] for r in roles] == [ROLE_NAME], roles
    return _rules(roles[0]["rules"])


def render(kubectl: str, workdir: Path, overlay: str = EXAMPLE) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of ``overlay`` in a copy of k8s/ under ``workdir``, with the
    example's placeholder secret key as the secret key file the operator would write."""
    tree = workdir / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secret-key"))
    example = tree / overlay / "secret-key.example"
    if example.exists():
        shutil.copyfile(example, tree / overlay / "secret-key")
    out = subprocess.run(
        [kubectl, "kustomize", str(tree / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]
