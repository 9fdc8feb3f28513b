"""The Kubernetes API emulator (tests/support/kubeapi.py), driven by the real ``kubernetes``
client over HTTP: what the Kubernetes backend's tests rely on it for."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.support.kubeapi import Call, KubeAPI

NS = "nextpyter"


def api_client(kube_api: KubeAPI) -> client.ApiClient:
    return client.ApiClient(kube_api.client_configuration())


def pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    container = {"name": "jupyter", "image": "registry.test/lab:1"}
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [container], **spec},
    }


def status(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {check}")


def test_create_get_list_delete_and_the_errors_of_the_real_server(kube_api: KubeAPI) -> None:
    core = client.CoreV1Api(api_client(kube_api))
    created = core.create_namespaced_pod(NS, pod("alice"))
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert created.metadata.namespace == NS and created.status.phase == "Pending"
    assert core.read_namespaced_pod("alice", NS).metadata.uid == created.metadata.uid

    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_pod(NS, pod("alice"))
    assert duplicate.value.status == 409
    body = status(duplicate.value)
    assert body["kind"] == "Status" and body["reason"] == "AlreadyExists" and body["code"] == 409
    assert body["details"] == {"name": "alice", "kind": "pods"}

    for call in (
        lambda: core.read_namespaced_pod("bob", NS),
        lambda: core.delete_namespaced_pod("bob", NS),
        lambda: core.patch_namespaced_pod("bob", NS, {"metadata": {"labels": {"a": "b"}}}),
        lambda: core.read_namespaced_pod("alice", "elsewhere"),
    ):
        with pytest.raises(ApiException) as missing:
            call()
        assert missing.value.status == 404 and status(missing.value)["reason"] == "NotFound"

    generated = core.create_namespaced_pod(NS, {**pod(""), "metadata": {"generateName": "x-"}})
    assert generated.metadata.name.startswith("x-") and len(generated.metadata.name) == 7
    assert {p.metadata.name for p in core.list_namespaced_pod(NS).items} == {
        "alice",
        generated.metadata.name,
    }
    deleted = core.delete_namespaced_pod("alice", NS)
    assert deleted.metadata.name == "alice"  # pods answer with the object, as the real server
    assert [p.metadata.name for p in core.list_namespaced_pod(NS).items] == [
        generated.metadata.name
    ]

    core.create_namespaced_secret(NS, {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    secret = core.read_namespaced_secret("s", NS)
    assert secret.data == {"k": "dg=="} and not secret.string_data
    assert core.delete_namespaced_secret("s", NS)["status"] == "Success"


def test_label_and_field_selectors_and_the_lists_resource_version(kube_api: KubeAPI) -> None:
    core = client.CoreV1Api(api_client(kube_api))
    core.create_namespaced_pod(NS, pod("a", {"app": "lab", "user": "alice"}))
    core.create_namespaced_pod(NS, pod("b", {"app": "lab", "user": "bob", "gpu": "1"}))
    core.create_namespaced_pod(NS, pod("c", {"app": "other"}))
    core.create_namespaced_pod("elsewhere", pod("d", {"app": "lab"}))

    def names(**kwargs: Any) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(NS, **kwargs).items]

    assert names(label_selector="app=lab") == ["a", "b"]
    assert names(label_selector="app==lab,user!=alice") == ["b"]
    assert names(label_selector="user in (alice, carol)") == ["a"]
    assert names(label_selector="user notin (alice),app") == ["b", "c"]
    assert names(label_selector="!gpu") == ["a", "c"]
    assert names(label_selector="gpu") == ["b"]
    assert names(field_selector="metadata.name=c") == ["c"]
    assert names(field_selector="metadata.name!=c,status.phase=Pending") == ["a", "b"]
    everywhere = core.list_pod_for_all_namespaces(label_selector="app=lab").items
    assert sorted(p.metadata.name for p in everywhere) == ["a", "b", "d"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(NS, label_selector="app in lab")
    assert bad.value.status == 400

    first = core.list_namespaced_pod(NS, limit=2)
    assert [p.metadata.name for p in first.items] == ["a", "b"] and first.metadata._continue
    rest = core.list_namespaced_pod(NS, limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["c"] and not rest.metadata._continue

    before = int(core.list_namespaced_pod(NS).metadata.resource_version)
    core.patch_namespaced_pod("a", NS, {"metadata": {"labels": {"seen": "yes"}}})
    after = core.list_namespaced_pod(NS).metadata.resource_version
    assert int(after) == before + 1
    assert core.read_namespaced_pod("a", NS).metadata.resource_version == after


def test_patches_and_replace_conflicts(kube_api: KubeAPI) -> None:
    core = client.CoreV1Api(api_client(kube_api))
    core.create_namespaced_pod(NS, pod("a", {"keep": "1", "drop": "1"}))
    # A dict body goes out as a strategic merge patch (the client's choice): lists merge by name.
    patch = {"metadata": {"labels": {"drop": None, "new": "2"}}}
    patch["spec"] = {"containers": [{"name": "jupyter", "env": [{"name": "A", "value": "1"}]}]}
    patched = core.patch_namespaced_pod("a", NS, patch)
    assert patched.metadata.labels == {"keep": "1", "new": "2"}
    assert patched.spec.containers[0].image == "registry.test/lab:1"
    assert patched.spec.containers[0].env[0].value == "1"
    merged = core.patch_namespaced_pod(
        "a",
        NS,
        {"metadata": {"annotations": {"x": "y"}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.metadata.annotations == {"x": "y"}
    ops = [{"op": "replace", "path": "/metadata/labels/keep", "value": "3"}]
    assert core.patch_namespaced_pod("a", NS, ops).metadata.labels["keep"] == "3"
    # The status is the status subresource's: a patch of the pod leaves it alone.
    kept = core.patch_namespaced_pod("a", NS, {"status": {"phase": "Running"}})
    assert kept.status.phase == "Pending"
    assert core.patch_namespaced_pod_status("a", NS, {"status": {"phase": "Running"}}).status.phase

    current = core.read_namespaced_pod("a", NS)
    stale = core.read_namespaced_pod("a", NS)
    current.metadata.labels["by"] = "first"
    core.replace_namespaced_pod("a", NS, current)
    stale.metadata.labels["by"] = "second"
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_pod("a", NS, stale)
    assert conflict.value.status == 409 and status(conflict.value)["reason"] == "Conflict"
    assert core.read_namespaced_pod("a", NS).metadata.labels["by"] == "first"


def test_a_watch_sees_added_modified_deleted_from_a_version_and_live(kube_api: KubeAPI) -> None:
    core = client.CoreV1Api(api_client(kube_api))
    core.create_namespaced_pod(NS, pod("old"))
    version = core.list_namespaced_pod(NS).metadata.resource_version
    core.create_namespaced_pod(NS, pod("a", {"app": "lab"}))
    core.create_namespaced_pod(NS, pod("other", {"app": "other"}))
    core.patch_namespaced_pod("a", NS, {"metadata": {"annotations": {"x": "1"}}})
    core.delete_namespaced_pod("a", NS)
    replay = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_pod,
            NS,
            label_selector="app=lab",
            resource_version=version,
            timeout_seconds=1,
        )
    ]
    assert replay == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]

    # Without a version: the current objects as ADDED, then what happens.
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def follow() -> None:
        for event in w.stream(core.list_namespaced_pod, NS, timeout_seconds=10):
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=follow)
    thread.start()
    wait_for(lambda: len(seen) == 2)
    core.create_namespaced_pod(NS, pod("live"))
    kube_api.schedule("live")
    core.delete_namespaced_pod("live", NS)
    thread.join(10)
    assert seen == [
        ("ADDED", "old"),
        ("ADDED", "other"),
        ("ADDED", "live"),
        ("MODIFIED", "live"),
        ("DELETED", "live"),
    ]


def test_bookmarks_expiry_and_disconnects(kube_api: KubeAPI) -> None:
    core = client.CoreV1Api(api_client(kube_api))
    kube_api.bookmark_interval = 0.2
    core.create_namespaced_pod(NS, pod("a"))
    version = core.list_namespaced_pod(NS).metadata.resource_version
    w = watch.Watch()
    events = list(
        w.stream(
            core.list_namespaced_pod,
            NS,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        )
    )
    assert {e["type"] for e in events} == {"BOOKMARK"} and len(events) >= 3
    assert events[0]["raw_object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": version},
    }
    assert w.resource_version == version

    kube_api.compact()  # as etcd compaction: the old version is gone
    with pytest.raises(ApiException) as gone:
        list(w.stream(core.list_namespaced_pod, NS, resource_version="1", timeout_seconds=1))
    assert gone.value.status == 410 and "Expired" in str(gone.value.reason)
    raw = requests.get(
        f"{kube_api.url}/api/v1/namespaces/{NS}/pods",
        params={"watch": "1", "resourceVersion": "1"},
        timeout=5,
    )
    assert raw.status_code == 200  # the real server answers 200, then one ERROR event
    error = json.loads(raw.text)
    assert error["type"] == "ERROR" and error["object"]["code"] == 410
    assert error["object"]["reason"] == "Expired"

    ended = threading.Event()

    def follow() -> None:
        fresh = core.list_namespaced_pod(NS).metadata.resource_version
        for _ in watch.Watch().stream(
            core.list_namespaced_pod, NS, resource_version=fresh, timeout_seconds=30
        ):
            pass
        ended.set()

    thread = threading.Thread(target=follow)
    thread.start()
    wait_for(lambda: sum(c.verb == "watch" for c in kube_api.calls) == 4)
    kube_api.disconnect_watches()
    assert ended.wait(5)
    thread.join()


def test_a_pods_life_by_the_test_controls_with_its_events(kube_api: KubeAPI) -> None:
    core = client.CoreV1Api(api_client(kube_api))
    kube_api.add_node("gpu-1", labels={"gpu": "yes"})
    core.create_namespaced_pod(NS, pod("alice"))
    core.create_namespaced_pod(NS, pod("bob"))

    kube_api.unschedulable("alice")
    scheduled = core.read_namespaced_pod("alice", NS).status.conditions[0]
    assert (scheduled.type, scheduled.status, scheduled.reason) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert "Insufficient nvidia.com/gpu" in scheduled.message
    kube_api.schedule("alice", "gpu-1")
    kube_api.container_creating("alice")
    waiting = core.read_namespaced_pod("alice", NS).status.container_statuses[0].state.waiting
    assert waiting.reason == "ContainerCreating"
    kube_api.pulling("alice")
    kube_api.pull_error("alice", message="manifest unknown")
    waiting = core.read_namespaced_pod("alice", NS).status.container_statuses[0].state.waiting
    assert (waiting.reason, waiting.message) == ("ErrImagePull", "manifest unknown")
    kube_api.pull_error("alice", "ImagePullBackOff")
    kube_api.pulled("alice")
    ran = kube_api.run("alice")
    running = core.read_namespaced_pod("alice", NS)
    assert running.status.phase == "Running" and running.status.pod_ip == ran["status"]["podIP"]
    assert running.spec.node_name == "gpu-1" and running.status.container_statuses[0].ready
    assert {c.type: c.status for c in running.status.conditions}["Ready"] == "True"
    kube_api.fail("alice", "OOMKilled", exit_code=137)
    crashed = core.read_namespaced_pod("alice", NS).status.container_statuses[0]
    assert crashed.state.waiting.reason == "CrashLoopBackOff"  # restartPolicy Always
    assert crashed.last_state.terminated.reason == "OOMKilled" and crashed.restart_count == 1

    events = core.list_namespaced_event(
        NS, field_selector="involvedObject.name=alice,involvedObject.kind=Pod"
    ).items
    order = sorted(events, key=lambda e: int(e.metadata.resource_version))
    assert [(e.reason, e.type) for e in order] == [
        ("FailedScheduling", "Warning"),
        ("Scheduled", "Normal"),
        ("Pulling", "Normal"),
        ("Failed", "Warning"),
        ("Failed", "Warning"),
        ("BackOff", "Normal"),
        ("Failed", "Warning"),
        ("Pulled", "Normal"),
        ("Created", "Normal"),
        ("Started", "Normal"),
        ("BackOff", "Warning"),
    ]
    assert order[3].message == 'Failed to pull image "registry.test/lab:1": manifest unknown'
    assert order[4].message == "Error: ErrImagePull"
    assert order[0].source.component == "default-scheduler"
    assert order[2].source.component == "kubelet" and order[2].source.host == "gpu-1"
    assert all(e.involved_object.uid == running.metadata.uid for e in events)
    assert core.list_namespaced_event(NS, field_selector="involvedObject.name=bob").items == []

    core.create_namespaced_pod(NS, pod("once", restartPolicy="Never"))
    kube_api.run("once")
    kube_api.fail("once", message="bye")
    assert core.read_namespaced_pod("once", NS).status.phase == "Failed"
    kube_api.set_log("once", "line 1\nline 2\n")
    assert core.read_namespaced_pod_log("once", NS, tail_lines=1) == "line 2\n"


def test_nodes_daemonsets_and_the_recorded_calls(kube_api: KubeAPI, tmp_path: Path) -> None:
    kube_api.add_node("n1", images=["registry.test/lab:1"])
    kube_api.add_node("n2")
    kube_api.add_node("n3")
    kubeconfig = kube_api.kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    assert configuration.host == kube_api.url
    _, namespace = config.list_kube_config_contexts(str(kubeconfig))
    assert namespace["context"]["namespace"] == NS
    with client.ApiClient(configuration) as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)

        def ready_on() -> int:
            return sum(
                any("registry.test/lab:2" in (i.names or []) for i in n.status.images or [])
                for n in core.list_node().items
            )

        template = {
            "metadata": {"labels": {"app": "prepull"}},
            "spec": {"containers": [{"name": "pull", "image": "registry.test/lab:2"}]},
        }
        ds = {
            "metadata": {"name": "prepull"},
            "spec": {"selector": {"matchLabels": {"app": "prepull"}}, "template": template},
        }
        apps.create_namespaced_daemon_set(NS, ds)
        created = apps.read_namespaced_daemon_set("prepull", NS).status
        assert (created.desired_number_scheduled, created.number_ready) == (3, 0)
        assert ready_on() == 0
        kube_api.daemonset_ready("prepull", NS, ready=2)
        assert apps.read_namespaced_daemon_set_status("prepull", NS).status.number_ready == 2
        assert ready_on() == 2
        apps.delete_namespaced_daemon_set("prepull", NS)

        core.create_namespaced_pod(NS, pod("a"))
        core.read_namespaced_pod_log("a", NS)
        list(
            watch.Watch().stream(
                core.list_namespaced_event, NS, field_selector="involvedObject.name=a",
                timeout_seconds=0,
            )
        )  # fmt: skip
        core.delete_collection_namespaced_pod(NS, label_selector="none")
        kube_api.inject("create", "services", 403, "Forbidden")
        with pytest.raises(ApiException) as forbidden:
            core.create_namespaced_service(NS, {"metadata": {"name": "s"}, "spec": {}})
        assert forbidden.value.status == 403
        core.create_namespaced_service(NS, {"metadata": {"name": "s"}, "spec": {}})
        core.replace_namespaced_service("s", NS, core.read_namespaced_service("s", NS))

    assert kube_api.calls[0] == Call("create", "apps", "daemonsets", "", NS, "")
    assert Call("list", "", "nodes") in kube_api.calls
    assert Call("get", "", "pods", "log", NS, "a") in kube_api.calls
    assert Call("get", "apps", "daemonsets", "status", NS, "prepull") in kube_api.calls
    assert kube_api.role_rules() == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["watch"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "deletecollection"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "get", "update"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["create", "delete", "get"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets/status"], "verbs": ["get"]},
    ]


def test_the_automatic_kubelet_runs_a_real_jupyter_server_at_the_pods_ip(
    kube_api: KubeAPI, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "alice" / "files").mkdir(parents=True)
    (data / "alice" / "files" / "mine.txt").write_text("hello")
    kube_api.start_kubelet(claims={"nextpyter-data": data})
    core = client.CoreV1Api(api_client(kube_api))
    core.create_namespaced_config_map(
        NS, {"metadata": {"name": "seed"}, "data": {"welcome.txt": "welcome"}}
    )
    core.create_namespaced_secret(
        NS, {"metadata": {"name": "token"}, "stringData": {"token": "t0k3n"}}
    )
    token = {"name": "token", "key": "token"}
    spec = {
        "initContainers": [
            {
                "name": "seed",
                "image": "busybox:1",
                "command": ["sh", "-c", "cp -n /seed/* /home/jovyan/work/ && mkdir -p /scratch/x"],
                "volumeMounts": [
                    {"name": "seed", "mountPath": "/seed"},
                    {"name": "data", "mountPath": "/home/jovyan/work", "subPath": "alice/files"},
                    {"name": "scratch", "mountPath": "/scratch"},
                ],
            }
        ],
        "containers": [
            {
                "name": "jupyter",
                "image": "registry.test/lab:1",
                "command": ["start.sh", "jupyter", "server"],
                "args": [
                    "--ServerApp.base_url=/user/alice/",
                    "--ServerApp.root_dir=/home/jovyan/work",
                    "--ServerApp.ip=0.0.0.0",
                    "--some-image-flag",
                ],
                "env": [
                    {"name": "JUPYTER_TOKEN", "valueFrom": {"secretKeyRef": token}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "HOME", "value": "/home/jovyan"},
                ],
                "ports": [{"containerPort": 8888, "name": "http"}],
                "readinessProbe": {"httpGet": {"path": "/user/alice/api", "port": 8888}},
                "volumeMounts": [
                    {"name": "data", "mountPath": "/home/jovyan/work", "subPath": "alice/files"}
                ],
            }
        ],
        "volumes": [
            {"name": "seed", "configMap": {"name": "seed"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "nextpyter-data"}},
        ],
        "restartPolicy": "Never",
    }  # fmt: skip
    core.create_namespaced_pod(NS, {"metadata": {"name": "alice"}, "spec": spec})

    ready = None
    for event in watch.Watch().stream(core.list_namespaced_pod, NS, timeout_seconds=30):
        conditions = {c.type: c.status for c in event["object"].status.conditions or []}
        if conditions.get("Ready") == "True" or event["object"].status.phase == "Failed":
            ready = event["object"]
            break
    logs = [p.read_text() for p in (kube_api.workdir / "pods").glob("*/server.log")]
    assert ready is not None and ready.status.phase == "Running", logs
    ip = ready.status.pod_ip
    assert ip.startswith("127.77.")
    version = requests.get(f"http://{ip}:8888/user/alice/api", timeout=10).json()
    assert "version" in version
    listing = requests.get(
        f"http://{ip}:8888/user/alice/api/contents",
        headers={"Authorization": "token t0k3n"},
        timeout=10,
    ).json()
    assert {f["name"] for f in listing["content"]} == {"mine.txt", "welcome.txt"}
    assert (data / "alice" / "files" / "welcome.txt").read_text() == "welcome"
    reasons = [e.reason for e in core.list_namespaced_event(NS).items]
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= set(reasons)
    assert "jupyter" in core.read_namespaced_pod_log("alice", NS).lower()

    (root,) = (kube_api.workdir / "pods").glob("nextpyter.alice.*")
    launched = json.loads((root / "argv.json").read_text())
    assert launched["env"]["POD_NAME"] == "alice" and launched["env"]["HOME"] == str(root / "home")
    assert "--some-image-flag" not in launched["argv"]
    pid = kube_api._processes[ready.metadata.uid].popen.pid

    deleted = core.delete_namespaced_pod("alice", NS)
    assert deleted.metadata.deletion_timestamp is not None  # terminating first
    wait_for(lambda: not core.list_namespaced_pod(NS).items, timeout=15)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{ip}:8888/user/alice/api", timeout=5)


def test_the_kubelet_reports_a_missing_volume_and_an_unemulated_init_container(
    kube_api: KubeAPI,
) -> None:
    kube_api.start_kubelet()
    core = client.CoreV1Api(api_client(kube_api))
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "unmapped"}}]
    core.create_namespaced_pod(NS, pod("nomount", volumes=volumes))
    init = [{"name": "net", "image": "curl:1", "command": ["curl", "http://example.test/"]}]
    core.create_namespaced_pod(NS, pod("noinit", initContainers=init, restartPolicy="Never"))
    failed_mount = wait_for(
        lambda: (
            core.list_namespaced_event(
                NS, field_selector="involvedObject.name=nomount,reason=FailedMount"
            ).items
        )
    )
    assert "unmapped" in failed_mount[0].message and failed_mount[0].type == "Warning"
    wait_for(lambda: core.read_namespaced_pod("noinit", NS).status.phase == "Failed")
    terminated = core.read_namespaced_pod("noinit", NS).status.container_statuses[0]
    assert terminated.state.terminated.reason == "NotEmulated"
