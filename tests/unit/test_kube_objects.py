"""The kubernetes backend's pure builders: every object compared whole, each secure default
asserted on its own, and every object read back through the client's models unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from nextpyter.sidecar.kube_settings import KubernetesSettings
from nextpyter.sidecar.runtime import ServerSpec
from nextpyter.sidecar.runtime.docker_spec import share_files
from nextpyter.sidecar.runtime.kubernetes import objects
from nextpyter.sidecar.runtime.kubernetes.objects import (
    files_subpath,
    make_jupyter_configmap,
    make_pod,
    make_prepull_daemonset,
    make_secret,
)
from nextpyter.sidecar.slugs import InvalidUserId

SPEC = ServerSpec(
    user_id="Anna O'Neil",
    slug="anna-o-neil-3f2a1b",
    profile="large",
    files_dir=Path("/srv/nextcloud/data/Anna O'Neil/files"),
    secret="s" * 43,
    image="registry.example.com/jupyter/scipy:2026.11",
    cpu=1.5,
    memory="4g",
    pids=2048,
)
SETTINGS = KubernetesSettings(image="unused", data_claim="nextcloud-data")
INSTALLATION = "0123456789ab"
CONFIGMAP = make_jupyter_configmap(share_files(), INSTALLATION)
CM_NAME = CONFIGMAP["metadata"]["name"]
SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 33,
    "runAsGroup": 33,
    "seccompProfile": {"type": "RuntimeDefault"},
}
ITEMS = [
    {"key": "nextpyter.__init__.py", "path": "nextpyter/__init__.py"},
    {"key": "nextpyter.jupyter.__init__.py", "path": "nextpyter/jupyter/__init__.py"},
    {"key": "nextpyter.jupyter.config.py", "path": "nextpyter/jupyter/config.py"},
    {"key": "nextpyter.jupyter.identity.py", "path": "nextpyter/jupyter/identity.py"},
    {
        "key": "nextpyter.jupyter.lab_settings.overrides.json",
        "path": "nextpyter/jupyter/lab_settings/overrides.json",
    },
    {"key": "nextpyter.jupyter.upstream.py", "path": "nextpyter/jupyter/upstream.py"},
]


def pod() -> dict[str, Any]:
    return make_pod(SPEC, SETTINGS, INSTALLATION, CONFIGMAP, 1795000000.25)


def test_the_whole_pod() -> None:
    assert pod() == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "nextpyter-anna-o-neil-3f2a1b",
            "labels": {
                "org.nextpyter.installation": "0123456789ab",
                "org.nextpyter.component": "server",
                "org.nextpyter.slug": "anna-o-neil-3f2a1b",
                "org.nextpyter.profile": "large",
                "org.nextpyter.created": "1795000000.250",
                "app.kubernetes.io/managed-by": "nextpyter",
            },
            "annotations": {
                "org.nextpyter.user": "Anna O'Neil",
                "org.nextpyter.image": "registry.example.com/jupyter/scipy:2026.11",
            },
        },
        "spec": {
            "hostname": "notebook",
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 5,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 33,
                "runAsGroup": 33,
                "fsGroup": 33,
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "initContainers": [
                {
                    "name": "secret",
                    "image": "registry.example.com/jupyter/scipy:2026.11",
                    "imagePullPolicy": "IfNotPresent",
                    "command": [
                        "sh",
                        "-c",
                        "cp /var/run/nextpyter-secret/gateway-secret /run/nextpyter/gateway-secret"
                        " && chmod 0600 /run/nextpyter/gateway-secret",
                    ],
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "1Mi"},
                        "limits": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "1Mi"},
                    },
                    "securityContext": SECURITY,
                    "volumeMounts": [
                        {
                            "name": "gateway-secret",
                            "mountPath": "/var/run/nextpyter-secret",
                            "readOnly": True,
                        },
                        {"name": "run", "mountPath": "/run/nextpyter"},
                    ],
                }
            ],
            "containers": [
                {
                    "name": "jupyter",
                    "image": "registry.example.com/jupyter/scipy:2026.11",
                    "imagePullPolicy": "IfNotPresent",
                    "args": [
                        "jupyter",
                        "server",
                        "--config=/opt/nextpyter/nextpyter/jupyter/config.py",
                        "--ServerApp.ip=0.0.0.0",
                        "--ServerApp.port=8888",
                        "--ServerApp.port_retries=0",
                        "--ServerApp.base_url=/user/anna-o-neil-3f2a1b/",
                        "--ServerApp.root_dir=/home/jovyan/work",
                    ],
                    "env": [
                        {"name": "HOME", "value": "/home/jovyan"},
                        {"name": "LANG", "value": "C.UTF-8"},
                        {"name": "PYTHONUNBUFFERED", "value": "1"},
                        {"name": "PYTHONPATH", "value": "/opt/nextpyter"},
                        {"name": "JUPYTER_RUNTIME_DIR", "value": "/tmp/jupyter-runtime"},
                        {
                            "name": "_NEXTPYTER_GATEWAY_SECRET_FILE",
                            "value": "/run/nextpyter/gateway-secret",
                        },
                        {"name": "_NEXTPYTER_USER_ID", "value": "Anna O'Neil"},
                    ],
                    "ports": [{"name": "http", "containerPort": 8888, "protocol": "TCP"}],
                    "workingDir": "/home/jovyan/work",
                    "resources": {
                        "requests": {"cpu": "1500m", "memory": "4Gi", "ephemeral-storage": "1Gi"},
                        "limits": {"cpu": "1500m", "memory": "4Gi", "ephemeral-storage": "1Gi"},
                    },
                    "securityContext": SECURITY,
                    "volumeMounts": [
                        {
                            "name": "files",
                            "mountPath": "/home/jovyan/work",
                            "subPath": "Anna O'Neil/files",
                        },
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "home", "mountPath": "/home/jovyan"},
                        {"name": "run", "mountPath": "/run/nextpyter"},
                        {"name": "nextpyter", "mountPath": "/opt/nextpyter", "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "files", "persistentVolumeClaim": {"claimName": "nextcloud-data"}},
                {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                {"name": "home", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {
                    "name": "gateway-secret",
                    "secret": {
                        "secretName": "nextpyter-anna-o-neil-3f2a1b",
                        "items": [{"key": "gateway-secret", "path": "gateway-secret"}],
                        "defaultMode": 0o440,
                    },
                },
                {
                    "name": "nextpyter",
                    "configMap": {"name": CM_NAME, "items": ITEMS, "defaultMode": 0o444},
                },
            ],
        },
    }


def test_placement_settings_gpu_and_service_account() -> None:
    settings = KubernetesSettings(
        image="unused",
        data_claim="nextcloud-data",
        uid=1000,
        gid=1001,
        node_selector=(("kubernetes.io/os", "linux"), ("gpu", "true")),
        tolerations=({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},),
        image_pull_secrets=("registry-a", "registry-b"),
        service_account="nextpyter-server",
    )
    spec = ServerSpec(**{**SPEC.__dict__, "gpu": 2, "cpu": 2.0})
    made = make_pod(spec, settings, INSTALLATION, CONFIGMAP, 0.0)["spec"]
    assert made["nodeSelector"] == {"kubernetes.io/os": "linux", "gpu": "true"}
    assert made["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert made["imagePullSecrets"] == [{"name": "registry-a"}, {"name": "registry-b"}]
    assert made["serviceAccountName"] == "nextpyter-server"
    assert made["automountServiceAccountToken"] is False  # even with an account of its own
    resources = made["containers"][0]["resources"]
    assert resources["limits"] == {
        "cpu": "2",
        "memory": "4Gi",
        "ephemeral-storage": "1Gi",
        "nvidia.com/gpu": "2",
    }
    assert "nvidia.com/gpu" not in resources["requests"]
    assert made["securityContext"]["runAsUser"] == 1000
    assert made["securityContext"]["fsGroup"] == 1001
    for container in (*made["containers"], *made["initContainers"]):
        assert container["securityContext"]["runAsUser"] == 1000
        assert container["securityContext"]["runAsGroup"] == 1001


# -- each secure default, on its own ---------------------------------------------------------
def containers() -> list[dict[str, Any]]:
    spec = pod()["spec"]
    return [*spec["initContainers"], *spec["containers"]]


def test_non_root_with_the_data_owner_and_fs_group() -> None:
    context = pod()["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 33 and context["runAsGroup"] == 33
    assert context["fsGroup"] == 33
    assert context["fsGroupChangePolicy"] == "OnRootMismatch"  # never a chown of all data


@pytest.mark.parametrize("field", ["allowPrivilegeEscalation", "privileged"])
def test_no_privilege_for_any_container(field: str) -> None:
    assert all(c["securityContext"][field] is False for c in containers())


def test_every_capability_dropped_and_seccomp() -> None:
    for container in containers():
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod()["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_read_only_root_with_memory_backed_size_limited_scratch() -> None:
    assert all(c["securityContext"]["readOnlyRootFilesystem"] is True for c in containers())
    volumes = {v["name"]: v for v in pod()["spec"]["volumes"]}
    for name in ("tmp", "home", "run"):
        assert volumes[name]["emptyDir"]["medium"] == "Memory"
        assert volumes[name]["emptyDir"]["sizeLimit"]


def test_no_api_token_and_no_service_links() -> None:
    assert pod()["spec"]["automountServiceAccountToken"] is False
    assert pod()["spec"]["enableServiceLinks"] is False
    assert "serviceAccountName" not in pod()["spec"]


def test_requests_equal_limits_memory_never_overcommitted() -> None:
    resources = pod()["spec"]["containers"][0]["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == "4Gi"
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "1500m"
    assert resources["limits"]["ephemeral-storage"] == "1Gi"


def test_restart_never_a_server_restarted_has_no_secret() -> None:
    assert pod()["spec"]["restartPolicy"] == "Never"


def test_the_secret_only_in_the_init_container_and_in_no_env() -> None:
    spec = pod()["spec"]
    (server,) = spec["containers"]
    assert all(m["name"] != "gateway-secret" for m in server["volumeMounts"])
    assert any(m["name"] == "gateway-secret" for m in spec["initContainers"][0]["volumeMounts"])
    assert SPEC.secret not in json.dumps(pod())
    assert all("valueFrom" not in e for e in server["env"])


def test_labels_as_on_docker() -> None:
    labels = pod()["metadata"]["labels"]
    assert {k for k in labels if k.startswith("org.nextpyter.")} == {
        "org.nextpyter.installation",
        "org.nextpyter.component",
        "org.nextpyter.slug",
        "org.nextpyter.profile",
        "org.nextpyter.created",
    }


# -- user files ----------------------------------------------------------------------------
def test_the_sub_path_is_built_from_the_validated_id_only() -> None:
    assert files_subpath("alice") == "alice/files"
    assert files_subpath("Anna O'Neil") == "Anna O'Neil/files"
    hostile = ServerSpec(**{**SPEC.__dict__, "files_dir": Path("/etc")})
    mount = make_pod(hostile, SETTINGS, INSTALLATION, CONFIGMAP, 0.0)["spec"]["containers"][0]
    assert mount["volumeMounts"][0]["subPath"] == "Anna O'Neil/files"  # not files_dir


@pytest.mark.parametrize(
    "user_id", ["..", ".", "../bob", "a/b", "/etc", "bob\x00", "x" * 65, "", " bob", "a\\b"]
)
def test_a_hostile_user_id_is_refused(user_id: str) -> None:
    with pytest.raises(InvalidUserId):
        files_subpath(user_id)
    spec = ServerSpec(**{**SPEC.__dict__, "user_id": user_id})
    with pytest.raises(InvalidUserId):
        make_pod(spec, SETTINGS, INSTALLATION, CONFIGMAP, 0.0)


def test_a_slug_that_is_no_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a server name"):
        objects.pod_name("../x")


# -- the other objects -------------------------------------------------------------------------
def test_the_whole_secret() -> None:
    assert make_secret(SPEC, INSTALLATION) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "nextpyter-anna-o-neil-3f2a1b",
            "labels": {
                "org.nextpyter.installation": "0123456789ab",
                "org.nextpyter.component": "gateway-secret",
                "org.nextpyter.slug": "anna-o-neil-3f2a1b",
                "app.kubernetes.io/managed-by": "nextpyter",
            },
        },
        "type": "Opaque",
        "data": {"gateway-secret": "c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzcw=="},
    }


def test_the_whole_configmap() -> None:
    files = dict(share_files())
    paths = {i["key"]: i["path"] for i in ITEMS}
    assert {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CM_NAME,
            "labels": {
                "org.nextpyter.installation": "0123456789ab",
                "org.nextpyter.component": "jupyter-files",
                "app.kubernetes.io/managed-by": "nextpyter",
            },
            "annotations": {"org.nextpyter.paths": json.dumps(paths, sort_keys=True)},
        },
        "immutable": True,
        "data": {key: files[path].decode() for key, path in paths.items()},
    } == CONFIGMAP
    assert set(paths.values()) == set(files)  # every file of nextpyter/jupyter, nothing else
    assert CM_NAME.startswith("nextpyter-jupyter-") and len(CM_NAME) == 28


def test_the_configmap_is_named_after_its_content() -> None:
    changed = [(p, c + b"\n") if p.endswith("config.py") else (p, c) for p, c in share_files()]
    assert make_jupyter_configmap(changed, INSTALLATION)["metadata"]["name"] != CM_NAME
    assert make_jupyter_configmap(share_files(), INSTALLATION)["metadata"]["name"] == CM_NAME
    with pytest.raises(ValueError):
        make_jupyter_configmap([("../evil.py", b"")], INSTALLATION)


def test_the_whole_prepull_daemonset() -> None:
    image = "registry.example.com/jupyter/scipy:2026.11"
    name = objects.prepull_name(image)
    labels = {
        "org.nextpyter.installation": "0123456789ab",
        "org.nextpyter.component": "prepull",
        "org.nextpyter.prepull": name.removeprefix("nextpyter-"),
        "app.kubernetes.io/managed-by": "nextpyter",
    }
    small = {"cpu": "10m", "memory": "64Mi", "ephemeral-storage": "1Mi"}
    assert make_prepull_daemonset(image, SETTINGS, INSTALLATION) == {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": labels, "annotations": {"org.nextpyter.image": image}},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels, "annotations": {"org.nextpyter.image": image}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 0,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 33,
                        "runAsGroup": 33,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [
                        {
                            "name": "pull",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["jupyter", "--version"],
                            "resources": {"requests": small, "limits": small},
                            "securityContext": SECURITY,
                        }
                    ],
                    "containers": [
                        {
                            "name": "pause",
                            "image": "registry.k8s.io/pause:3.10",
                            "imagePullPolicy": "IfNotPresent",
                            "resources": {"requests": small, "limits": small},
                            "securityContext": SECURITY,
                        }
                    ],
                },
            },
        },
    }
    assert len(name) <= 63


def test_quantities() -> None:
    assert objects.quantity("512m") == "512Mi" and objects.quantity("2G") == "2Gi"
    assert objects.cpu_quantity(0.25) == "250m" and objects.cpu_quantity(3.0) == "3"
    with pytest.raises(ValueError):
        objects.quantity("lots")


# -- the client's models take every object without loss ----------------------------------------
@pytest.mark.parametrize(
    ("build", "model"),
    [
        (pod, "V1Pod"),
        (lambda: make_secret(SPEC, INSTALLATION), "V1Secret"),
        (lambda: CONFIGMAP, "V1ConfigMap"),
        (lambda: make_prepull_daemonset("x/y:1", SETTINGS, INSTALLATION), "V1DaemonSet"),
    ],
)
def test_every_object_round_trips_through_the_clients_models(build: Any, model: str) -> None:
    api = client.ApiClient()
    obj = build()
    # (The private deserializer: deserialize()'s own signature changed within >=31,<38.)
    typed = api._ApiClient__deserialize(json.loads(json.dumps(obj)), model)  # type: ignore[attr-defined]
    assert type(typed).__name__ == model
    assert api.sanitize_for_serialization(typed) == obj
