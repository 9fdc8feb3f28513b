"""The kubernetes backend against the API emulator (tests/support/kubeapi.py), through the
real ``kubernetes`` client; its automatic kubelet runs a real Jupyter server per pod."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml  # type: ignore[import-untyped]
from kubernetes import client

from nextpyter.sidecar.kube_settings import KubernetesSettings
from nextpyter.sidecar.runtime import BackendError, ServerSpec
from nextpyter.sidecar.runtime.kubernetes import backend as backend_module
from nextpyter.sidecar.runtime.kubernetes.backend import NO_UPSTREAM, KubernetesBackend
from nextpyter.sidecar.runtime.kubernetes.objects import make_secret, prepull_name
from nextpyter.sidecar.sessions import upstream_secret
from tests.support.kubeapi import Call, KubeAPI

NS = "nextpyter"
KEY = "k" * 40
IMAGE = "registry.test/jupyter/lab:1"
ROOT = Path(__file__).parents[2]
RECORDED: set[tuple[str, str, str]] = set()  # (verb, group, resource) of every test here


def spec(user: str, data: Path) -> ServerSpec:
    files = data / user / "files"
    files.mkdir(parents=True, exist_ok=True)
    return ServerSpec(
        user_id=user,
        slug=user,
        profile="default",
        files_dir=files,
        secret=upstream_secret(KEY, user),
        image=IMAGE,
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


@pytest.fixture
def backend(kube_api: KubeAPI) -> Iterator[KubernetesBackend]:
    settings = KubernetesSettings(image=IMAGE, data_claim="nextcloud-data", namespace=NS)
    made = KubernetesBackend(settings, client.ApiClient(kube_api.client_configuration()))
    yield made
    made.close()
    RECORDED.update((c.verb, c.group, c.rbac_resource) for c in kube_api.calls)


@pytest.fixture
def kubelet(kube_api: KubeAPI, data: Path) -> KubeAPI:
    kube_api.start_kubelet(claims={"nextcloud-data": data})
    return kube_api


def pod_names(kube_api: KubeAPI) -> list[str]:
    return [p["metadata"]["name"] for p in kube_api.objects("pods", NS)]


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s")


def test_start_wait_status_route_activity_stop(
    backend: KubernetesBackend, kubelet: KubeAPI, data: Path
) -> None:
    said: list[str] = []
    server = backend.start(spec("alice", data))
    assert server.state == "starting" and server.slug == "alice"
    ready = backend.wait_ready("alice", 60, said.append)
    assert ready.state == "running" and ready.user_id == "alice" and ready.detail == IMAGE
    # The scheduler's and the kubelet's events, with their messages, in order.
    assert said[0] == "Successfully assigned nextpyter/nextpyter-alice to node-1"
    assert f'Pulling image "{IMAGE}"' in said
    assert any(m.startswith(f'Successfully pulled image "{IMAGE}"') for m in said)
    assert backend.status("alice") == ready
    assert [s.slug for s in backend.list()] == ["alice"]

    upstream = backend.upstream("alice")
    pod = kubelet.get_pod("nextpyter-alice", NS)
    assert upstream == f"{pod['status']['podIP']}:8888"
    base = f"http://{upstream}/user/alice/api/status"
    secret = upstream_secret(KEY, "alice")
    assert (
        requests.get(base, headers={"X-NextPyter-Gateway": secret}, timeout=10).status_code == 200
    )
    assert requests.get(base, timeout=10).status_code == 403
    assert requests.get(base, headers={"X-NextPyter-Gateway": "x"}, timeout=10).status_code == 403
    used = backend.activity("alice", secret)
    assert used is not None and abs(used - time.time()) < 120
    assert backend.activity("alice", "wrong") is None

    assert backend.stop("alice") is True
    assert backend.status("alice") is None and backend.upstream("alice") == NO_UPSTREAM
    assert pod_names(kubelet) == [] and kubelet.objects("secrets", NS) == []
    assert backend.stop("alice") is False


def test_the_secret_reaches_the_server_only_and_is_removed(
    backend: KubernetesBackend, kubelet: KubeAPI, data: Path
) -> None:
    backend.start(spec("bob", data))
    backend.wait_ready("bob", 60)
    pod = kubelet.get_pod("nextpyter-bob", NS)
    (server,) = pod["spec"]["containers"]
    assert all(m["name"] != "gateway-secret" for m in server["volumeMounts"])
    assert upstream_secret(KEY, "bob") not in json.dumps(pod)
    (secret,) = kubelet.objects("secrets", NS)
    assert base64.b64decode(secret["data"]["gateway-secret"]).decode() == upstream_secret(
        KEY, "bob"
    )
    handed = list((kubelet.workdir / "pods").glob("*/volumes/run/gateway-secret"))
    assert handed == []  # read by identity.py, then removed


def test_upstream_answers_from_the_cache_with_no_api_call(
    backend: KubernetesBackend, kubelet: KubeAPI, data: Path
) -> None:
    backend.start(spec("carol", data))
    backend.wait_ready("carol", 60)
    before = len(kubelet.calls)
    answers = {backend.upstream("carol") for _ in range(200)}
    assert len(kubelet.calls) == before
    assert len(answers) == 1 and answers != {NO_UPSTREAM}
    assert backend.upstream("nobody") == NO_UPSTREAM and len(kubelet.calls) == before


def test_a_new_sidecar_routes_every_running_server_at_once(
    backend: KubernetesBackend, kubelet: KubeAPI, data: Path
) -> None:
    for user in ("dave", "erin"):
        backend.start(spec(user, data))
        backend.wait_ready(user, 60)
    other = KubernetesBackend(backend.settings, client.ApiClient(kubelet.client_configuration()))
    try:
        assert {other.upstream(u) for u in ("dave", "erin")} == {
            backend.upstream(u) for u in ("dave", "erin")
        }
        assert {s.slug for s in other.list()} == {"dave", "erin"}
    finally:
        other.close()


def test_two_starts_at_once_make_one_pod(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path
) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            results.append(backend.start(spec("frank", data)))
        except BackendError as error:
            results.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pod_names(kube_api) == ["nextpyter-frank"]
    assert all(not isinstance(r, BackendError) and r.slug == "frank" for r in results)
    creates = [c for c in kube_api.calls if c.verb == "create" and c.resource == "pods"]
    assert len(creates) >= 1


def test_a_pod_of_another_installation_is_refused(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path
) -> None:
    core = client.CoreV1Api(client.ApiClient(kube_api.client_configuration()))
    body = {
        "metadata": {"name": "nextpyter-gina"},
        "spec": {"containers": [{"name": "x", "image": "y:1"}]},
    }
    core.create_namespaced_pod(NS, body)
    with pytest.raises(BackendError, match="not started by this NextPyter installation"):
        backend.start(spec("gina", data))


def waiting_launch(backend: KubernetesBackend, slug: str) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        started = time.monotonic()
        try:
            backend.wait_ready(slug, 60, lambda m: outcome.append(m))
            outcome.append("ready")
        except BackendError as error:
            outcome.append(error)
        outcome.append(time.monotonic() - started)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        ("ErrImagePull", "could not pull the server's image"),
        ("ImagePullBackOff", "could not pull the server's image"),
        ("CreateContainerConfigError", "could not create the server's container"),
        ("Unschedulable", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
    ],
)
def test_what_waiting_cannot_heal_ends_the_launch_at_once(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path, cause: str, expected: str
) -> None:
    backend.start(spec("hank", data))
    thread, outcome = waiting_launch(backend, "hank")
    wait_for(lambda: kube_api.objects("pods", NS))
    time.sleep(0.2)  # the event watch is open
    name = "nextpyter-hank"
    if cause == "Unschedulable":
        kube_api.unschedulable(name)
    elif cause == "CreateContainerConfigError":
        kube_api.schedule(name)
        message = 'secret "registry" not found'
        state = {"waiting": {"reason": cause, "message": message}}
        kube_api.set_status(
            "pods", name, {"containerStatuses": [{"name": "jupyter", "state": state}]}, NS
        )
    else:
        kube_api.schedule(name)
        kube_api.pulling(name)
        kube_api.pull_error(name, cause)
    thread.join(10)
    assert not thread.is_alive()
    error, took = outcome[-2], outcome[-1]
    assert isinstance(error, BackendError) and expected in str(error), outcome
    assert took < 10


def test_the_server_stopping_while_it_starts_ends_the_launch(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path
) -> None:
    backend.start(spec("ivan", data))
    thread, outcome = waiting_launch(backend, "ivan")
    wait_for(lambda: kube_api.objects("pods", NS))
    kube_api.schedule("nextpyter-ivan")
    kube_api.fail("nextpyter-ivan", "Error", "ModuleNotFoundError: jupyter_server", 1)
    thread.join(10)
    assert isinstance(outcome[-2], BackendError) and "exit code 1" in str(outcome[-2])


def test_the_informer_survives_410_and_lists_again(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path
) -> None:
    kube_api.bookmark_interval = 3600.0  # no bookmark moves the informer's version on
    backend.start(spec("judy", data))
    wait_for(lambda: backend.pods.get("nextpyter-judy"))
    lists = backend.pods.lists
    core = client.CoreV1Api(client.ApiClient(kube_api.client_configuration()))
    core.create_namespaced_secret(NS, {"metadata": {"name": "unrelated"}})  # newer than ours
    kube_api.compact()
    kube_api.disconnect_watches()  # it watches again from its version: 410, so it lists
    wait_for(lambda: backend.pods.lists > lists)
    kube_api.schedule("nextpyter-judy")
    kube_api.run("nextpyter-judy")
    wait_for(lambda: backend.upstream("judy") != NO_UPSTREAM)
    assert backend.status("judy") is not None and backend.status("judy").state == "running"  # type: ignore[union-attr]


def test_bookmarks_keep_the_informers_version_fresh(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path
) -> None:
    kube_api.bookmark_interval = 0.1
    backend.status("kate")  # the informer runs
    core = client.CoreV1Api(client.ApiClient(kube_api.client_configuration()))
    core.create_namespaced_secret(NS, {"metadata": {"name": "unrelated"}})  # no pod changes
    newest = core.list_namespaced_secret(NS).metadata.resource_version
    wait_for(lambda: backend.pods.version is not None and int(backend.pods.version) >= int(newest))
    lists = backend.pods.lists
    kube_api.disconnect_watches()  # resumes from the bookmark's version: no new list
    time.sleep(0.5)
    assert backend.pods.lists == lists


def test_reconcile_adopts_running_and_removes_the_rest(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for user in ("lena", "mike", "nina", "olga", "pete"):
        backend.start(spec(user, data))
    kube_api.schedule("nextpyter-lena")
    kube_api.run("nextpyter-lena")  # running: adopted
    kube_api.schedule("nextpyter-mike")
    kube_api.fail("nextpyter-mike")  # failed: removed
    kube_api.schedule("nextpyter-olga")
    kube_api.pull_error("nextpyter-olga")  # cannot start: removed
    # nina: Pending without a start under way (removed); pete: Pending under his lock (kept).
    core = client.CoreV1Api(client.ApiClient(kube_api.client_configuration()))
    core.create_namespaced_secret(NS, make_secret(spec("quinn", data), backend.installation))
    old = {"metadata": {"name": "nextpyter-jupyter-0000000000", "labels": {
        "org.nextpyter.installation": backend.installation,
        "org.nextpyter.component": "jupyter-files"}}}  # fmt: skip
    core.create_namespaced_config_map(NS, old)
    monkeypatch.setattr(backend_module, "ORPHAN_GRACE", -1.0)
    wait_for(lambda: len(backend.pods.objects()) == 5)
    backend.reconcile(lambda slug: slug == "pete")
    wait_for(lambda: sorted(pod_names(kube_api)) == ["nextpyter-lena", "nextpyter-pete"])
    secrets = sorted(s["metadata"]["name"] for s in kube_api.objects("secrets", NS))
    assert secrets == ["nextpyter-lena", "nextpyter-pete"]
    maps = [m["metadata"]["name"] for m in kube_api.objects("configmaps", NS)]
    assert maps == [backend.configmap["metadata"]["name"]]
    assert [s.slug for s in backend.list()] == ["lena", "pete"]


def test_reconcile_leaves_young_objects_alone(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path
) -> None:
    backend.start(spec("rita", data))
    core = client.CoreV1Api(client.ApiClient(kube_api.client_configuration()))
    core.create_namespaced_secret(NS, make_secret(spec("sam", data), backend.installation))
    backend.reconcile()
    assert pod_names(kube_api) == ["nextpyter-rita"]
    assert len(kube_api.objects("secrets", NS)) == 2


def test_start_replaces_a_pod_that_cannot_serve(
    backend: KubernetesBackend, kube_api: KubeAPI, data: Path
) -> None:
    first = backend.start(spec("tina", data))
    kube_api.schedule("nextpyter-tina")
    kube_api.fail("nextpyter-tina")
    wait_for(lambda: backend.status("tina") is None)
    uid = kube_api.get_pod("nextpyter-tina", NS)["metadata"]["uid"]
    second = backend.start(spec("tina", data))
    assert second.slug == first.slug
    assert kube_api.get_pod("nextpyter-tina", NS)["metadata"]["uid"] != uid


def test_the_culler_stops_an_idle_pod(
    backend: KubernetesBackend, kubelet: KubeAPI, data: Path, redis_client: Any
) -> None:
    from nextpyter.sidecar import dynconfig
    from nextpyter.sidecar.culler import Culler

    class Config:
        def get(self) -> dynconfig.RuntimeConfig:
            return dynconfig.RuntimeConfig(
                profiles={"default": dynconfig.Profile()},
                default_profile="default",
                idle_timeout=60,
            )

    backend.start(spec("uma", data))
    backend.wait_ready("uma", 60)
    culler = Culler(backend, redis_client, Config(), KEY)  # type: ignore[arg-type]
    assert culler.cull_once(now=time.time()) == []
    assert culler.cull_once(now=time.time() + 3600) == [("uma", "idle for 60 s")]
    assert pod_names(kubelet) == []


def test_prepull_daemonsets_and_the_image_report(
    backend: KubernetesBackend, kube_api: KubeAPI
) -> None:
    for node in ("node-1", "node-2", "node-3"):
        kube_api.add_node(node)
    other = "registry.test/jupyter/scipy:2"
    assert backend.image_report([IMAGE]) == {IMAGE: None}
    report = backend.prepull([IMAGE, other])
    assert report == {IMAGE: {"ready": 0, "nodes": 3}, other: {"ready": 0, "nodes": 3}}
    kube_api.daemonset_ready(prepull_name(IMAGE), NS, ready=2)
    assert backend.image_report([IMAGE, other]) == {
        IMAGE: {"ready": 2, "nodes": 3},
        other: {"ready": 0, "nodes": 3},
    }
    assert backend.prepull([IMAGE])[IMAGE] == {"ready": 2, "nodes": 3}  # again: patched
    (made,) = [
        d for d in kube_api.objects("daemonsets", NS, group="apps")
        if d["metadata"]["name"] == prepull_name(IMAGE)
    ]  # fmt: skip
    assert made["spec"]["template"]["spec"]["initContainers"][0]["image"] == IMAGE


def test_zz_the_recorded_calls_are_what_the_role_grants() -> None:
    """Runs last: every (verb, group, resource) the tests above made must be granted by the
    sidecar's Role in k8s/, and it should grant nothing more. The record is also written to
    tests/support/kube_backend_calls.json for the manifests' own test."""
    if not RECORDED:
        pytest.skip("no backend test ran before this one")
    recorded = sorted(RECORDED)
    (ROOT / "tests/support/kube_backend_calls.json").write_text(
        json.dumps([list(r) for r in recorded], indent=1) + "\n"
    )
    rbac = ROOT / "k8s/base/rbac.yaml"
    if not rbac.exists():
        pytest.skip("k8s/base/rbac.yaml has not landed")
    granted = set()
    for document in yaml.safe_load_all(rbac.read_text()):
        if document and document.get("kind") == "Role":
            for rule in document["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        granted |= {(v, group, resource) for v in rule["verbs"]}
    assert set(recorded) <= granted, sorted(set(recorded) - granted)
    assert granted == set(recorded), sorted(granted - set(recorded))


_ = Call  # the emulator's record type, named for readers
