"""The kubernetes backend's settings (``NEXTPYTER_KUBE_*``), read and validated at start.

Kept apart from the client (this module imports no ``kubernetes``), so that the settings
load, and say what is wrong, on a sidecar without the ``kubernetes`` extra too. Every
value that ends up in a pod is checked here against the API's own grammar (names, label
keys and values, tolerations), so a bad value stops the start with a message naming the
variable instead of failing each launch later.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common.env import PREFIX, ConfigError, get, integer
from ..common.images import is_image

# Where a pod finds its own namespace (every pod with a service account has it).
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
# Label keys: [prefix/]name; values: up to 63 of [A-Za-z0-9._-], alphanumeric at the ends.
LABEL_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
LABEL_VALUE_RE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
SIZE_RE = re.compile(r"([1-9][0-9]{0,5})([kmgt])", re.IGNORECASE)
WORKDIR_RE = re.compile(r"(/[A-Za-z0-9._-]+){2,8}")
TOLERATION_KEYS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
EFFECTS = frozenset({"", "NoSchedule", "PreferNoSchedule", "NoExecute"})


@dataclass(frozen=True)
class KubernetesSettings:
    """What the kubernetes backend needs besides the cluster's own configuration (in-cluster
    service account, or the kubeconfig file ``kubeconfig`` names)."""

    image: str
    data_claim: str  # the ReadWriteMany claim holding Nextcloud's data directory
    namespace: str = "default"
    kubeconfig: str = ""  # empty: in-cluster (the sidecar's service account)
    uid: int = 33
    gid: int = 33
    workdir: str = "/home/jovyan/work"
    scratch_size: str = "1g"  # each memory-backed scratch emptyDir (/tmp and the home)
    ephemeral_storage: str = "1g"  # the pod's disk outside its volumes (logs, mostly)
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Mapping[str, Any], ...] = field(default=())
    image_pull_secrets: tuple[str, ...] = ()
    service_account: str = ""  # empty: the namespace's default (its token never mounted)
    stop_timeout: int = 5
    # What a pre-pull DaemonSet's pods run once their init containers pulled the images:
    # the kubelet's own sandbox image, which every node already has.
    pause_image: str = "registry.k8s.io/pause:3.10"


def label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN_RE.fullmatch(prefix)):
        return False
    return bool(LABEL_NAME_RE.fullmatch(name))


def _node_selector(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not label_key_ok(key.strip()) or not LABEL_VALUE_RE.fullmatch(value.strip()):
            raise ConfigError(
                f"{PREFIX}KUBE_NODE_SELECTOR has {item!r}: give node labels as key=value "
                "pairs separated by commas, like kubernetes.io/os=linux,gpu=true"
            )
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _tolerations(raw: str) -> tuple[Mapping[str, Any], ...]:
    example = '[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]'
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError(
            f"{PREFIX}KUBE_TOLERATIONS is not JSON; give a list like {example}"
        ) from None
    if not isinstance(value, list):
        raise ConfigError(f"{PREFIX}KUBE_TOLERATIONS must be a JSON list like {example}")
    for item in value:
        if (
            not isinstance(item, dict)
            or not set(item) <= TOLERATION_KEYS
            or not all(isinstance(item.get(k, ""), str) for k in ("key", "value", "effect"))
            or item.get("operator", "Equal") not in {"Equal", "Exists"}
            or item.get("effect", "") not in EFFECTS
            or (item.get("key") and not label_key_ok(item["key"]))
            or (
                "tolerationSeconds" in item
                and (
                    not isinstance(item["tolerationSeconds"], int)
                    or isinstance(item["tolerationSeconds"], bool)
                )
            )
        ):
            raise ConfigError(
                f"{PREFIX}KUBE_TOLERATIONS has {json.dumps(item)}: each toleration is an "
                "object with key, operator (Equal or Exists), value, effect (NoSchedule, "
                f"PreferNoSchedule or NoExecute) and tolerationSeconds, like {example}"
            )
    return tuple(value)


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in get(env, name, "").split(",") if n.strip())
    for item in names:
        if not DNS_SUBDOMAIN_RE.fullmatch(item):
            raise ConfigError(
                f"{PREFIX}{name} has {item!r}: give Secret names (lower case a-z 0-9 - .) "
                "separated by commas"
            )
    return names


def _size(env: Mapping[str, str], name: str, default: str) -> str:
    value = get(env, name, default)
    if not SIZE_RE.fullmatch(value):
        raise ConfigError(f"{PREFIX}{name}={value!r} must look like 512m or 2g")
    return value.lower()


def _namespace(env: Mapping[str, str], namespace_file: Path) -> str:
    default = "default"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        default = namespace_file.read_text(encoding="utf-8").strip() or default
    namespace = get(env, "KUBE_NAMESPACE", default)
    if not DNS_LABEL_RE.fullmatch(namespace):
        raise ConfigError(
            f"{PREFIX}KUBE_NAMESPACE={namespace!r} is not a namespace name (1-63 of a-z 0-9 -)"
        )
    return namespace


def kubernetes_settings(
    env: Mapping[str, str], namespace_file: Path = NAMESPACE_FILE
) -> KubernetesSettings:
    """Read and validate the kubernetes backend's settings; :class:`ConfigError` on the first
    bad one. The image, uid, gid and work folder are the ones the docker backend reads."""
    image = get(env, "DOCKER_IMAGE")
    if not is_image(image):
        raise ConfigError(
            f"{PREFIX}DOCKER_IMAGE={image!r} is not an image reference (like nextpyter/jupyter:4)"
        )
    claim = get(env, "KUBE_DATA_CLAIM")
    if not DNS_SUBDOMAIN_RE.fullmatch(claim):
        raise ConfigError(
            f"{PREFIX}KUBE_DATA_CLAIM={claim!r} is not a PersistentVolumeClaim name "
            "(lower case a-z 0-9 - .)"
        )
    kubeconfig = get(env, "KUBE_CONFIG", "")
    if kubeconfig and not Path(kubeconfig).is_file():
        raise ConfigError(
            f"{PREFIX}KUBE_CONFIG={kubeconfig} is not a file (leave it empty in the cluster: "
            "the sidecar then uses its service account)"
        )
    workdir = get(env, "DOCKER_WORKDIR", "/home/jovyan/work")
    top = "/" + workdir.split("/")[1] if workdir.startswith("/") else ""
    if (
        not WORKDIR_RE.fullmatch(workdir)
        or ".." in workdir.split("/")
        or top in {"/bin", "/dev", "/etc", "/lib", "/proc", "/run", "/sbin", "/sys", "/tmp"}  # noqa: S108
        or top in {"/usr", "/var", "/opt"}
    ):
        raise ConfigError(
            f"{PREFIX}DOCKER_WORKDIR={workdir!r} must be an absolute path at least two levels "
            "deep outside the system's folders (its parent is the notebook user's home), "
            "like /home/jovyan/work"
        )
    account = get(env, "KUBE_SERVICE_ACCOUNT", "")
    if account and not DNS_SUBDOMAIN_RE.fullmatch(account):
        raise ConfigError(f"{PREFIX}KUBE_SERVICE_ACCOUNT={account!r} is not a service account name")
    pause = get(env, "KUBE_PAUSE_IMAGE", KubernetesSettings.pause_image)
    if not is_image(pause):
        raise ConfigError(f"{PREFIX}KUBE_PAUSE_IMAGE={pause!r} is not an image reference")
    return KubernetesSettings(
        image=image,
        data_claim=claim,
        namespace=_namespace(env, namespace_file),
        kubeconfig=kubeconfig,
        uid=integer(env, "DOCKER_UID", 33, 1, 2**31 - 1),
        gid=integer(env, "DOCKER_GID", 33, 1, 2**31 - 1),
        workdir=workdir,
        scratch_size=_size(env, "KUBE_SCRATCH_SIZE", "1g"),
        ephemeral_storage=_size(env, "KUBE_EPHEMERAL_STORAGE", "1g"),
        node_selector=_node_selector(get(env, "KUBE_NODE_SELECTOR", "")),
        tolerations=_tolerations(get(env, "KUBE_TOLERATIONS", "[]")),
        image_pull_secrets=_names(env, "KUBE_IMAGE_PULL_SECRETS"),
        service_account=account,
        stop_timeout=integer(env, "KUBE_STOP_TIMEOUT", 5, 0, 300),
        pause_image=pause,
    )
