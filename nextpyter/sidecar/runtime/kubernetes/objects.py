"""Every object the kubernetes backend creates, built by pure functions (no I/O), as the
API's JSON (camelCase dicts the client sends as they are), each tested as a whole.

A user's server is a pod ``nextpyter-<slug>`` with a Secret ``nextpyter-<slug>`` (the
gateway's per-user secret) and NextPyter's Jupyter files in a ConfigMap shared by all
pods (``nextpyter-jupyter-<hash of its content>``: each version its own, immutable, so
replicas of two releases never overwrite each other's). The secure defaults, each asserted
by tests/unit/test_kube_objects.py:

- ``runAsNonRoot`` with the uid and gid of Nextcloud's data (33 by default, never 0) and
  ``fsGroup`` (``fsGroupChangePolicy: OnRootMismatch``: Nextcloud's data is never chowned
  file by file);
- ``allowPrivilegeEscalation: false``, every capability dropped, ``seccompProfile:
  RuntimeDefault``, a read-only root file system, for every container (the restricted Pod
  Security Standard);
- scratch space only in size-limited, memory-backed emptyDirs (``/tmp`` and the home,
  where Docker has tmpfs mounts), a pod-wide ephemeral-storage request and limit;
- ``automountServiceAccountToken: false``, ``enableServiceLinks: false``: a notebook finds
  no credential for the API and no list of the namespace's services;
- requests equal to limits for memory (no overcommit beyond the profile) and CPU, GPUs as
  ``nvidia.com/gpu`` limits. A per-pod pids limit is not in the pod API: it is the
  kubelet's ``podPidsLimit`` (set it on the nodes);
- ``restartPolicy: Never``: a server's secret is read once and removed, so a restarted
  container could not serve; a pod whose server stopped is removed and made anew;
- user files from the claim holding Nextcloud's data directory, with ``subPath
  <uid>/files`` built from the validated user id alone;
- the gateway's secret only in the init container ``secret``, which copies it (0600) into
  a memory-backed emptyDir that the server reads it from and removes it from, so it is in
  no environment variable, no volume a kernel sees later, and no ``kubectl describe``.

Labels ``org.nextpyter.{installation,slug,profile,created,component}`` say what an object
is (label values cannot hold a user id or an image reference: those are annotations
``org.nextpyter.{user,image}``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from .... import jupyter
from ....jupyter.upstream import SECRET_FILE_ENV, USER_ENV
from ...kube_settings import KubernetesSettings
from ...slugs import is_slug, validate_user_id
from ..base import ServerSpec

LABEL = "org.nextpyter."
NAME_PREFIX = "nextpyter-"
PORT = 8888  # where Jupyter listens in a pod, on every address of the pod
CONTAINER = "jupyter"
SECRET_KEY = "gateway-secret"
# Inside a pod: the secret's hand-over folder, and NextPyter's Jupyter files (read-only).
RUN_MOUNT = "/run/nextpyter"
SHARE_MOUNT = "/opt/nextpyter"
SECRET_MOUNT = "/var/run/nextpyter-secret"  # the init container's only
RUN_SIZE = "1Mi"
# org.nextpyter.component: what an object is to NextPyter.
SERVER = "server"
GATEWAY_SECRET = "gateway-secret"
JUPYTER_FILES = "jupyter-files"
PREPULL = "prepull"
GPU_RESOURCE = "nvidia.com/gpu"
_UNITS = {"k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti"}


def pod_name(slug: str) -> str:
    if not is_slug(slug):
        raise ValueError(f"{slug!r} is not a server name")
    return NAME_PREFIX + slug


def installation_id(namespace: str, data_claim: str) -> str:
    """Which NextPyter installation an object belongs to (two may share a namespace)."""
    return hashlib.sha256(f"kubernetes:{namespace}:{data_claim}".encode()).hexdigest()[:12]


def quantity(size: str) -> str:
    """Docker's ``512m``/``4g`` (powers of 1024) as a Kubernetes quantity (``512Mi``)."""
    number, unit = size[:-1], size[-1].lower()
    if unit in _UNITS and number.isdigit():
        return number + _UNITS[unit]
    if size.isdigit():
        return size
    raise ValueError(f"{size!r} is not a size like 512m or 4g")


def cpu_quantity(cpu: float) -> str:
    millis = round(cpu * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def files_subpath(user_id: str) -> str:
    """``<uid>/files`` inside the data claim, from the validated user id alone."""
    return f"{validate_user_id(user_id)}/files"


def labels(installation: str, component: str, **extra: str) -> dict[str, str]:
    return {
        LABEL + "installation": installation,
        LABEL + "component": component,
        **{LABEL + k: v for k, v in extra.items()},
        "app.kubernetes.io/managed-by": "nextpyter",
    }


def selector(installation: str, component: str) -> str:
    """The label selector of ``component``'s objects of this installation."""
    return f"{LABEL}installation={installation},{LABEL}component={component}"


def _security(settings: KubernetesSettings) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": settings.uid,
        "runAsGroup": settings.gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _placement(settings: KubernetesSettings) -> dict[str, Any]:
    placement: dict[str, Any] = {}
    if settings.node_selector:
        placement["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        placement["tolerations"] = [dict(t) for t in settings.tolerations]
    if settings.image_pull_secrets:
        placement["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]
    return placement


def make_pod(
    spec: ServerSpec,
    settings: KubernetesSettings,
    installation: str,
    configmap: Mapping[str, Any],
    created: float,
) -> dict[str, Any]:
    """The pod of ``spec``'s server; ``configmap`` is :func:`make_jupyter_configmap`'s."""
    name = pod_name(spec.slug)
    home = posixpath.dirname(settings.workdir)
    scratch = quantity(settings.scratch_size)
    memory = quantity(spec.memory)
    limits = {
        "cpu": cpu_quantity(spec.cpu),
        "memory": memory,
        "ephemeral-storage": quantity(settings.ephemeral_storage),
    }
    requests = dict(limits)
    if spec.gpu:
        limits[GPU_RESOURCE] = str(spec.gpu)
    secret_file = f"{RUN_MOUNT}/{SECRET_KEY}"
    server = {
        "name": CONTAINER,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        # args, not command: the image's entrypoint runs the server, as on Docker.
        "args": [
            "jupyter",
            "server",
            f"--config={SHARE_MOUNT}/{jupyter.CONFIG_FILE}",
            "--ServerApp.ip=0.0.0.0",
            f"--ServerApp.port={PORT}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.base_url={spec.base_url}",
            f"--ServerApp.root_dir={settings.workdir}",
        ],
        "env": [
            {"name": "HOME", "value": home},
            {"name": "LANG", "value": "C.UTF-8"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            {"name": "PYTHONPATH", "value": SHARE_MOUNT},
            {"name": "JUPYTER_RUNTIME_DIR", "value": "/tmp/jupyter-runtime"},  # noqa: S108
            {"name": SECRET_FILE_ENV, "value": secret_file},
            {"name": USER_ENV, "value": spec.user_id},
        ],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "workingDir": settings.workdir,
        "resources": {"requests": requests, "limits": limits},
        "securityContext": _security(settings),
        "volumeMounts": [
            {
                "name": "files",
                "mountPath": settings.workdir,
                "subPath": files_subpath(spec.user_id),
            },
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
            {"name": "home", "mountPath": home},
            {"name": "run", "mountPath": RUN_MOUNT},
            {"name": "nextpyter", "mountPath": SHARE_MOUNT, "readOnly": True},
        ],
    }
    init = {
        "name": "secret",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        # A fixed command, no value of the user's in it (the image must have sh, cp and
        # chmod); nothing else runs in the pod before the file is the server's alone.
        "command": [
            "sh",
            "-c",
            f"cp {SECRET_MOUNT}/{SECRET_KEY} {secret_file} && chmod 0600 {secret_file}",
        ],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "1Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "1Mi"},
        },
        "securityContext": _security(settings),
        "volumeMounts": [
            {"name": "gateway-secret", "mountPath": SECRET_MOUNT, "readOnly": True},
            {"name": "run", "mountPath": RUN_MOUNT},
        ],
    }
    pod_spec: dict[str, Any] = {
        "hostname": "notebook",
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": settings.stop_timeout,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.uid,
            "runAsGroup": settings.gid,
            "fsGroup": settings.gid,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [init],
        "containers": [server],
        "volumes": [
            {"name": "files", "persistentVolumeClaim": {"claimName": settings.data_claim}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": scratch}},
            {"name": "home", "emptyDir": {"medium": "Memory", "sizeLimit": scratch}},
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": RUN_SIZE}},
            {
                "name": "gateway-secret",
                "secret": {
                    "secretName": name,
                    "items": [{"key": SECRET_KEY, "path": SECRET_KEY}],
                    "defaultMode": 0o440,  # group: fsGroup, the server's gid
                },
            },
            {
                "name": "nextpyter",
                "configMap": {
                    "name": configmap["metadata"]["name"],
                    "items": [{"key": key, "path": path} for key, path in _items(configmap)],
                    "defaultMode": 0o444,
                },
            },
        ],
        **_placement(settings),
    }
    if settings.service_account:
        pod_spec["serviceAccountName"] = settings.service_account
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": labels(
                installation,
                SERVER,
                slug=spec.slug,
                profile=spec.profile,
                created=f"{created:.3f}",
            ),
            "annotations": {LABEL + "user": spec.user_id, LABEL + "image": spec.image},
        },
        "spec": pod_spec,
    }


def make_secret(spec: ServerSpec, installation: str) -> dict[str, Any]:
    """The Secret that carries the gateway's secret to the pod's init container only."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": pod_name(spec.slug),
            "labels": labels(installation, GATEWAY_SECRET, slug=spec.slug),
        },
        "type": "Opaque",
        "data": {SECRET_KEY: base64.b64encode(spec.secret.encode("ascii")).decode("ascii")},
    }


def _key(path: str) -> str:
    """A ConfigMap key for a file's path (keys cannot hold '/')."""
    return path.replace("/", ".")


def _items(configmap: Mapping[str, Any]) -> list[tuple[str, str]]:
    paths = json.loads(configmap["metadata"]["annotations"][LABEL + "paths"])
    return sorted((key, paths[key]) for key in configmap["data"])


def make_jupyter_configmap(files: Iterable[tuple[str, bytes]], installation: str) -> dict[str, Any]:
    """NextPyter's Jupyter files (docker_spec.share_files()) as an immutable ConfigMap
    named after its content; each key's path below /opt/nextpyter is in the annotation
    ``org.nextpyter.paths`` (a key cannot hold '/'), which the pod's volume items follow."""
    data: dict[str, str] = {}
    paths: dict[str, str] = {}
    for path, content in sorted(files):
        key = _key(path)
        if key in data or posixpath.isabs(path) or ".." in path.split("/"):
            raise ValueError(f"{path!r} cannot be a file of the Jupyter ConfigMap")
        data[key] = content.decode("utf-8")
        paths[key] = path
    digest = hashlib.sha256(
        b"".join(f"{p}\0{data[_key(p)]}\0".encode() for p in sorted(paths.values()))
    ).hexdigest()[:10]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{NAME_PREFIX}jupyter-{digest}",
            "labels": labels(installation, JUPYTER_FILES),
            "annotations": {LABEL + "paths": json.dumps(paths, sort_keys=True)},
        },
        "immutable": True,
        "data": data,
    }


def prepull_name(image: str) -> str:
    return f"{NAME_PREFIX}prepull-{hashlib.sha256(image.encode()).hexdigest()[:12]}"


def make_prepull_daemonset(
    image: str, settings: KubernetesSettings, installation: str
) -> dict[str, Any]:
    """A DaemonSet that pulls ``image`` onto every node the servers may run on: its init
    container runs ``jupyter --version`` from the image (what every NextPyter image has,
    and proof that it runs), then the pod sleeps in the kubelet's pause image (which every
    node has for its pod sandboxes). Its ready pods are the nodes where the image is."""
    name = prepull_name(image)
    small = {"cpu": "10m", "memory": "64Mi", "ephemeral-storage": "1Mi"}
    pod_labels = labels(installation, PREPULL, prepull=name.removeprefix(NAME_PREFIX))
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": name,
            "labels": pod_labels,
            "annotations": {LABEL + "image": image},
        },
        "spec": {
            "selector": {"matchLabels": pod_labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {LABEL + "image": image}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 0,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": settings.uid,
                        "runAsGroup": settings.gid,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [
                        {
                            "name": "pull",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["jupyter", "--version"],
                            "resources": {"requests": small, "limits": small},
                            "securityContext": _security(settings),
                        }
                    ],
                    "containers": [
                        {
                            "name": "pause",
                            "image": settings.pause_image,
                            "imagePullPolicy": "IfNotPresent",
                            "resources": {"requests": small, "limits": small},
                            "securityContext": _security(settings),
                        }
                    ],
                    **_placement(settings),
                },
            },
        },
    }
