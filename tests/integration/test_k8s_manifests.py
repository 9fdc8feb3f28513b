"""k8s/: the example overlay renders with kubectl's kustomize, every object it makes is one
the API's models hold without loss, and what must hold of a NextPyter installation does:
hardened pods with probes and resources, PodDisruptionBudgets, NetworkPolicies that keep
users' pods to the gateway and the internet, no secret in a ConfigMap, the gateway's
template as the repository's, the Role in one file."""

from __future__ import annotations

import inspect
import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.support import kube_manifests as km
from tests.support.need import require

ROOT = km.ROOT
Obj = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
SECRET_NAME_RE = re.compile(r"SECRET|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|SIGNING_KEY|API_KEY|TOKEN$")
# Names of Secrets (registry credentials), not secret values.
SECRET_NAME_ALLOWED = {"NEXTPYTER_KUBE_IMAGE_PULL_SECRETS"}
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> list[Obj]:
    return km.render(require("kubectl"), tmp_path_factory.mktemp("k8s"))


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def generated(objects: list[Obj], kind: str, name: str) -> Obj:
    """A generated object (name with kustomize's content hash)."""
    found = [
        o
        for o in objects
        if o["kind"] == kind and re.fullmatch(rf"{name}-[a-z0-9]{{10}}", o["metadata"]["name"])
    ]
    assert len(found) == 1, f"{kind}/{name}-<hash>: {len(found)} found"
    return found[0]


def pod_specs(objects: list[Obj]) -> list[tuple[str, Obj]]:
    return [
        (o["metadata"]["name"], o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in WORKLOADS
    ]


def env_of(container: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def model_class(obj: Obj) -> str:
    version = obj["apiVersion"].rpartition("/")[2]
    return f"{version.capitalize()}{obj['kind']}"


def round_trip(obj: Obj, name: str) -> Obj:
    """``obj`` deserialized into the client's model ``name`` and serialized back."""
    client = kubernetes.client.ApiClient()
    text = json.dumps(obj)
    if "response_text" in inspect.signature(client.deserialize).parameters:  # client >= 35
        model = client.deserialize(text, name, "application/json")
    else:

        class Response:
            data = text

        model = client.deserialize(Response(), name)
    return client.sanitize_for_serialization(model)


# -- rendering and the models ---------------------------------------------------------------


def test_every_object_round_trips_through_the_clients_models(objects: list[Obj]) -> None:
    kinds = set()
    for obj in objects:
        name = model_class(obj)
        assert hasattr(kubernetes.client, name), f"no model {name} for {obj['kind']}"
        assert round_trip(obj, name) == obj, (
            f"{obj['kind']}/{obj['metadata']['name']} changed in {name}"
        )
        kinds.add(obj["kind"])
    assert kinds >= {
        "Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret",
        "Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "NetworkPolicy",
        "Ingress",
    }  # fmt: skip


def test_the_nextcloud_side_files_round_trip_and_agree(objects: list[Obj]) -> None:
    """k8s/nextcloud/: the chart's claim on the export's root, NextPyter's on its folder
    `data` (Nextcloud's data directory: <uid>/files at the claim's root, as the backend
    mounts it), both ReadWriteMany, static and kept; the chart's values agree."""
    storage = km.load_all(km.K8S / "nextcloud" / "storage.yaml")
    for obj in storage:
        assert round_trip(obj, model_class(obj)) == obj
    volumes = {o["metadata"]["name"]: o for o in storage if o["kind"] == "PersistentVolume"}
    claims = {o["metadata"]["name"]: o for o in storage if o["kind"] == "PersistentVolumeClaim"}
    assert set(claims) == {"nextcloud-data", "nextpyter-data"}
    roots = {}
    for name, claim in claims.items():
        volume = volumes[claim["spec"]["volumeName"]]
        assert volume["spec"]["claimRef"]["name"] == name
        assert claim["spec"]["accessModes"] == volume["spec"]["accessModes"] == ["ReadWriteMany"]
        assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        assert claim["spec"]["storageClassName"] == volume["spec"]["storageClassName"] == ""
        roots[name] = volume["spec"]["nfs"]
    assert roots["nextpyter-data"] == {
        "server": roots["nextcloud-data"]["server"],
        "path": roots["nextcloud-data"]["path"] + "/data",
    }
    settings = generated(objects, "ConfigMap", "nextpyter-settings")["data"]
    assert settings["NEXTPYTER_KUBE_DATA_CLAIM"] == "nextpyter-data"
    namespace = one(objects, "Namespace", "nextpyter")["metadata"]["name"]
    assert claims["nextpyter-data"]["metadata"]["namespace"] == namespace

    (values,) = km.load_all(km.K8S / "nextcloud" / "values.yaml")
    assert values["persistence"]["enabled"] is True
    data = values["persistence"]["nextcloudData"]
    assert data == {"enabled": True, "existingClaim": "nextcloud-data"}
    # The chart mounts its claim's folder `data` at nextcloud.datadir; the sidecar mounts
    # NextPyter's claim (that folder) at the same path.
    sidecar = one(objects, "Deployment", "nextpyter-sidecar")["spec"]["template"]["spec"]
    (mount,) = [
        m for m in sidecar["containers"][0]["volumeMounts"] if m["name"] == "nextcloud-data"
    ]
    assert "subPath" not in mount
    assert mount["mountPath"] == values["nextcloud"]["datadir"] == settings["NEXTPYTER_DATA_DIR"]
    # The JWKS host is one Nextcloud trusts.
    jwks_host = re.match(r"https?://([^/:]+)", settings["NEXTPYTER_JWKS"]).group(1)
    assert jwks_host in values["nextcloud"]["trustedDomains"]
    assert settings["NEXTPYTER_TOKEN_ISSUER"] == f"https://{values['nextcloud']['host']}"
    assert values["cronjob"]["enabled"] is True


# -- workloads -------------------------------------------------------------------------------


def test_every_pod_is_hardened_with_resources_and_probes(objects: list[Obj]) -> None:
    specs = pod_specs(objects)
    assert {n for n, _ in specs} == {"nextpyter-sidecar", "nextpyter-gateway", "nextpyter-redis"}
    for name, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] > 0 and pod["runAsGroup"] > 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["enableServiceLinks"] is False, name
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(flag), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{name}/{container['name']}"
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["runAsNonRoot"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert not sc.get("privileged"), where
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, where
            assert set(resources["limits"]) == {"cpu", "memory"}, where
            assert "livenessProbe" in container and "readinessProbe" in container, where
            assert ":" in container["image"], f"{where}: image without a tag"
        # Only the sidecar talks to the API server.
        token = spec.get("automountServiceAccountToken", True)
        assert token is (name == "nextpyter-sidecar"), name


def test_the_sidecar(objects: list[Obj]) -> None:
    deployment = one(objects, "Deployment", "nextpyter-sidecar")
    assert deployment["spec"]["replicas"] == 2
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["nextpyter-sidecar", "--bind", "0.0.0.0:8000"]
    assert spec["securityContext"]["runAsUser"] == 33
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/api/v1/health"

    # Settings from the ConfigMap; the secret key from a mounted Secret, never a variable.
    settings = generated(objects, "ConfigMap", "nextpyter-settings")
    assert container["envFrom"] == [{"configMapRef": {"name": settings["metadata"]["name"]}}]
    env = env_of(container)
    assert "NEXTPYTER_SECRET_KEY" not in env and "NEXTPYTER_SECRET_KEY" not in settings["data"]
    assert env["NEXTPYTER_KUBE_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    key_file = Path(env["NEXTPYTER_SECRET_KEY_FILE"])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    (secret_mount,) = [m for m in mounts.values() if Path(m["mountPath"]) == key_file.parent]
    assert secret_mount["readOnly"] is True
    secret = generated(objects, "Secret", "nextpyter-secret-key")
    assert volumes[secret_mount["name"]]["secret"]["secretName"] == secret["metadata"]["name"]
    assert key_file.name in secret["data"]
    assert volumes[secret_mount["name"]]["secret"]["defaultMode"] == 0o440

    # The data claim, read-only, at NEXTPYTER_DATA_DIR; the same claim the backend mounts.
    data = mounts["nextcloud-data"]
    assert data["readOnly"] is True and data["mountPath"] == settings["data"]["NEXTPYTER_DATA_DIR"]
    claim = volumes["nextcloud-data"]["persistentVolumeClaim"]
    assert claim == {"claimName": settings["data"]["NEXTPYTER_KUBE_DATA_CLAIM"], "readOnly": True}
    # Writable only: memory-backed, size-limited scratch for /tmp and the runtime directory.
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp", settings["data"]["NEXTPYTER_RUNTIME_DIR"]}
    for mount in container["volumeMounts"]:
        if not mount.get("readOnly"):
            assert volumes[mount["name"]]["emptyDir"]["sizeLimit"], mount
    assert settings["data"]["NEXTPYTER_BACKEND"] == "kubernetes"
    assert settings["data"]["NEXTPYTER_REDIS_URL"] == "redis://nextpyter-redis:6379/0"
    assert settings["data"]["NEXTPYTER_KUBE_SERVICE_ACCOUNT"] == "nextpyter-server"
    server_account = one(objects, "ServiceAccount", "nextpyter-server")
    assert server_account["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "nextpyter-sidecar"


def test_disruption_budgets_keep_one_of_each(objects: list[Obj]) -> None:
    for name in ("nextpyter-sidecar", "nextpyter-gateway"):
        pdb = one(objects, "PodDisruptionBudget", name)
        deployment = one(objects, "Deployment", name)
        assert pdb["spec"]["minAvailable"] == 1
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert deployment["spec"]["replicas"] >= 2
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_redis_persists_its_append_only_file(objects: list[Obj]) -> None:
    redis = one(objects, "StatefulSet", "nextpyter-redis")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    data_dir = command[command.index("--dir") + 1]
    (template,) = redis["spec"]["volumeClaimTemplates"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == template["metadata"]["name"]]
    assert mount["mountPath"] == data_dir
    assert one(objects, "Service", "nextpyter-redis")["spec"]["ports"][0]["port"] == 6379


def test_services_select_their_pods_and_name_their_ports(objects: list[Obj]) -> None:
    templates = {
        o["metadata"]["name"]: o["spec"]["template"] for o in objects if o["kind"] in WORKLOADS
    }
    for service in (o for o in objects if o["kind"] == "Service"):
        name = service["metadata"]["name"]
        template = templates[name]
        assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
        ports = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, name


def test_the_ingress_serves_the_gateway_with_tls(objects: list[Obj]) -> None:
    ingress = one(objects, "Ingress", "nextpyter-gateway")
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [rule["host"]] and tls["secretName"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    backend = path["backend"]["service"]
    service = one(objects, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert backend["name"] == "nextpyter-gateway"
    # Another origin than Nextcloud's.
    settings = generated(objects, "ConfigMap", "nextpyter-settings")["data"]
    assert rule["host"] not in settings["NEXTPYTER_TOKEN_ISSUER"]


# -- secrets ----------------------------------------------------------------------------------


def test_no_configmap_holds_a_secret(objects: list[Obj]) -> None:
    secret_values = {
        v for o in objects if o["kind"] == "Secret" for v in o.get("data", {}).values()
    }
    for cm in (o for o in objects if o["kind"] == "ConfigMap"):
        for key, value in cm.get("data", {}).items():
            if key not in SECRET_NAME_ALLOWED:
                assert not SECRET_NAME_RE.search(key.upper()), f"{cm['metadata']['name']}: {key}"
            assert value not in secret_values
    for name, spec in pod_specs(objects):
        for container in spec["containers"]:
            for var, value in env_of(container).items():
                if isinstance(value, str) and SECRET_NAME_RE.search(var):
                    assert var.endswith("_FILE"), f"{name}: {var} holds a secret"


def test_no_secret_is_committed() -> None:
    """The secret key is a file the operator makes (git-ignored); the example's placeholder
    is shorter than the 32 characters the sidecar insists on, so it never runs with it."""
    example = km.K8S / km.EXAMPLE
    assert "secret-key" in (example / ".gitignore").read_text().split()
    assert len((example / "secret-key.example").read_text().strip()) < 32
    for path in km.K8S.rglob("*.yaml"):
        for doc in km.load_all(path):
            assert doc.get("kind") != "Secret", path


# -- network policies ---------------------------------------------------------------------------


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # matchExpressions: not used here
    return selector.get("matchLabels", {}).items() <= labels.items()


def policies_for(objects: list[Obj], labels: dict[str, str]) -> list[Obj]:
    return [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy" and selects(o["spec"]["podSelector"], labels)
    ]


SERVER = {"org.nextpyter.component": "server", "org.nextpyter.installation": "x"}
GATEWAY = {"app.kubernetes.io/name": "nextpyter-gateway"}
SIDECAR = {"app.kubernetes.io/name": "nextpyter-sidecar"}
REDIS = {"app.kubernetes.io/name": "nextpyter-redis"}
NEXTCLOUD = {"app.kubernetes.io/name": "nextcloud", "app.kubernetes.io/component": "app"}
OTHER = {"app": "something-else"}
DNS = {"k8s-app": "kube-dns"}


def peer_allows(peer: Obj, labels: dict[str, str] | None, namespace: str, ip: str | None) -> bool:
    """Whether one `from`/`to` entry admits a pod (labels, namespace) or an address."""
    if "ipBlock" in peer:
        if ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if labels is None:
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": namespace}
        if not selects(peer["namespaceSelector"], ns_labels):
            return False
    elif namespace != "nextpyter":
        return False
    return selects(peer.get("podSelector", {}), labels)


def allowed(
    objects: list[Obj],
    direction: str,
    pod: dict[str, str],
    port: int,
    protocol: str = "TCP",
    peer: dict[str, str] | None = None,
    namespace: str = "nextpyter",
    ip: str | None = None,
) -> bool:
    """NetworkPolicy semantics for one connection (ingress to, or egress from, `pod`)."""
    kind = direction.capitalize()
    policies = [p for p in policies_for(objects, pod) if kind in p["spec"]["policyTypes"]]
    if not policies:
        return True  # not isolated in that direction
    key = "from" if direction == "ingress" else "to"
    for policy in policies:
        for rule in policy["spec"].get(direction, []):
            ports = rule.get("ports")
            if ports is not None and not any(
                p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
            ):
                continue
            peers = rule.get(key)
            if peers is None or any(peer_allows(x, peer, namespace, ip) for x in peers):
                return True
    return False


def test_users_pods_take_connections_from_the_gateway_and_sidecar_only(
    objects: list[Obj],
) -> None:
    assert allowed(objects, "ingress", SERVER, 8888, peer=GATEWAY)
    assert allowed(objects, "ingress", SERVER, 8888, peer=SIDECAR)
    assert not allowed(objects, "ingress", SERVER, 8888, peer=SERVER)  # another user's pod
    assert not allowed(objects, "ingress", SERVER, 8888, peer=REDIS)
    assert not allowed(objects, "ingress", SERVER, 8888, peer=NEXTCLOUD)
    assert not allowed(objects, "ingress", SERVER, 8888, peer=GATEWAY, namespace="elsewhere")
    assert not allowed(objects, "ingress", SERVER, 22, peer=GATEWAY)
    assert not allowed(objects, "ingress", SERVER, 8888, ip="203.0.113.7")
    assert not allowed(objects, "ingress", SERVER, 8888, ip="10.1.2.3")
    (policy,) = policies_for(objects, SERVER)
    for rule in policy["spec"]["ingress"]:
        assert all(set(peer) == {"podSelector"} for peer in rule["from"]), rule


def test_users_pods_reach_dns_and_the_internet_only(objects: list[Obj]) -> None:
    assert allowed(objects, "egress", SERVER, 53, "UDP", peer=DNS, namespace="kube-system")
    assert allowed(objects, "egress", SERVER, 53, "TCP", peer=DNS, namespace="kube-system")
    assert not allowed(objects, "egress", SERVER, 53, "UDP", peer=DNS, namespace="elsewhere")
    for ip in ("1.1.1.1", "203.0.113.7", "8.8.8.8"):
        assert allowed(objects, "egress", SERVER, 443, ip=ip)
    for ip in (
        "10.96.0.1",  # the API server's Service (kubernetes.default)
        "10.0.0.10",
        "172.20.0.1",
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT: some clusters' pods and nodes
        "169.254.169.254",  # cloud metadata
        "169.254.20.10",  # node-local DNS cache
    ):
        assert not allowed(objects, "egress", SERVER, 443, ip=ip), ip
        assert not allowed(objects, "egress", SERVER, 53, "UDP", ip=ip), ip
    # No pod of the cluster by selector (Redis, the sidecar, another user's server).
    for peer in (REDIS, SIDECAR, GATEWAY, SERVER, NEXTCLOUD):
        assert not allowed(objects, "egress", SERVER, 6379, peer=peer), peer
        assert not allowed(objects, "egress", SERVER, 8000, peer=peer), peer
    (policy,) = policies_for(objects, SERVER)
    blocks = [p["ipBlock"] for r in policy["spec"]["egress"] for p in r["to"] if "ipBlock" in p]
    assert blocks == [{"cidr": "0.0.0.0/0", "except": PRIVATE}]


def test_the_sidecar_and_redis_are_reached_only_by_their_clients(objects: list[Obj]) -> None:
    assert allowed(objects, "ingress", SIDECAR, 8000, peer=GATEWAY)
    assert allowed(objects, "ingress", SIDECAR, 8000, peer=NEXTCLOUD)
    for peer in (SERVER, REDIS, OTHER):
        assert not allowed(objects, "ingress", SIDECAR, 8000, peer=peer), peer
    assert not allowed(objects, "ingress", SIDECAR, 8000, ip="203.0.113.7")
    assert allowed(objects, "ingress", REDIS, 6379, peer=SIDECAR)
    for peer in (SERVER, GATEWAY, NEXTCLOUD, OTHER):
        assert not allowed(objects, "ingress", REDIS, 6379, peer=peer), peer
    assert not allowed(objects, "egress", REDIS, 443, ip="1.1.1.1")
    # The gateway: anyone on 8080 (the Ingress controller), out to the sidecar, the
    # users' pods and DNS only.
    assert allowed(objects, "ingress", GATEWAY, 8080, peer=OTHER, namespace="ingress-nginx")
    assert not allowed(objects, "ingress", GATEWAY, 9113, peer=OTHER)
    assert allowed(objects, "egress", GATEWAY, 8000, peer=SIDECAR)
    assert allowed(objects, "egress", GATEWAY, 8888, peer=SERVER)
    assert not allowed(objects, "egress", GATEWAY, 6379, peer=REDIS)
    assert not allowed(objects, "egress", GATEWAY, 443, ip="1.1.1.1")
    # Pre-pull pods: nothing in, nothing out.
    prepull = {"org.nextpyter.component": "prepull"}
    assert not allowed(objects, "ingress", prepull, 8888, peer=GATEWAY)
    assert not allowed(objects, "egress", prepull, 443, ip="1.1.1.1")


def test_policies_select_the_backends_labels() -> None:
    """The users' pods and the pre-pull pods, by the labels the backend gives them."""
    from nextpyter.sidecar.runtime.kubernetes import objects as objects_module

    labels = objects_module.labels("abc", objects_module.SERVER, slug="u")
    assert SERVER.items() - {("org.nextpyter.installation", "x")} <= labels.items()
    prepull = objects_module.labels("abc", objects_module.PREPULL)
    assert prepull["org.nextpyter.component"] == "prepull"
    assert objects_module.PORT == 8888


# -- the gateway ---------------------------------------------------------------------------------


def test_the_gateway_renders_the_repositorys_template(objects: list[Obj], tmp_path: Path) -> None:
    original = (ROOT / "gateway" / "nextpyter.conf.template").read_text(encoding="utf-8")
    copy = (km.K8S / "base" / "gateway" / "nextpyter.conf.template").read_text(encoding="utf-8")
    assert copy == original, "k8s/base/gateway/nextpyter.conf.template: copy gateway/'s again"
    template_cm = generated(objects, "ConfigMap", "nextpyter-gateway-template")
    assert template_cm["data"] == {"nextpyter.conf.template": original}

    deployment = one(objects, "Deployment", "nextpyter-gateway")
    assert deployment["spec"]["replicas"] == 2
    spec = deployment["spec"]["template"]["spec"]
    (nginx,) = spec["containers"]
    assert nginx["image"].startswith("nginx:")
    env = env_of(nginx)
    needed = set(re.findall(r"\$\{(NEXTPYTER_[A-Z_]+)\}", original))
    assert needed == {"NEXTPYTER_GATEWAY_LISTEN", "NEXTPYTER_SIDECAR_ADDR"}
    # The image's templates mechanism substitutes exactly the variables matching the filter.
    pattern = re.compile(env.pop("NGINX_ENVSUBST_FILTER"))
    assert {name for name in env if pattern.search(name)} == needed == set(env)
    assert env["NEXTPYTER_SIDECAR_ADDR"] == "nextpyter-sidecar:8000"
    listen = int(env["NEXTPYTER_GATEWAY_LISTEN"])
    assert [p["containerPort"] for p in nginx["ports"]] == [listen]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in nginx["volumeMounts"]}
    tpl = mounts["/etc/nginx/templates/nextpyter.conf.template"]
    assert volumes[tpl["name"]]["configMap"]["name"] == template_cm["metadata"]["name"]
    assert "emptyDir" in volumes[mounts["/etc/nginx/conf.d"]["name"]]
    nginx_cm = generated(objects, "ConfigMap", "nextpyter-gateway-nginx")
    assert (
        volumes[mounts["/etc/nginx/nginx.conf"]["name"]]["configMap"]["name"]
        == (nginx_cm["metadata"]["name"])
    )

    # nginx accepts the main file and the rendered include (the sidecar's address as one
    # this machine resolves; nginx resolves an upstream's name when it loads).
    binary = require("nginx")
    main = nginx_cm["data"]["nginx.conf"]
    assert "include /etc/nginx/conf.d/*.conf;" in main
    (tmp_path / "conf.d").mkdir()
    rendered = original.replace("${NEXTPYTER_GATEWAY_LISTEN}", "127.0.0.1:18080").replace(
        "${NEXTPYTER_SIDECAR_ADDR}", "127.0.0.1:8000"
    )
    (tmp_path / "conf.d" / "nextpyter.conf").write_text(rendered)
    main = main.replace("/etc/nginx/conf.d/", f"{tmp_path}/conf.d/").replace(
        "/tmp/", f"{tmp_path}/"
    )
    (tmp_path / "nginx.conf").write_text(main)
    out = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr


# -- RBAC ------------------------------------------------------------------------------------


def test_the_role_is_in_one_file_and_bound_to_the_sidecar(objects: list[Obj]) -> None:
    for path in km.K8S.rglob("*.yaml"):
        kinds = [d.get("kind") for d in km.load_all(path)]
        if path != km.ROLE_FILE:
            assert "Role" not in kinds, f"{path}: keep every Role rule in {km.ROLE_FILE}"
    rules = km.role_rules()
    rendered = one(objects, "Role", km.ROLE_NAME)
    assert km._rules(rendered["rules"]) == rules
    for rule in rules:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
    # Nothing on the servers' exec, attach or port-forward.
    resources = {r["resources"][0] for r in rules}
    assert not {"pods/exec", "pods/attach", "pods/portforward"} & resources

    binding = one(objects, "RoleBinding", km.ROLE_NAME)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": km.ROLE_NAME
    }  # fmt: skip
    namespace = one(objects, "Namespace", "nextpyter")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "nextpyter-sidecar", "namespace": namespace}
    ]
    # Nothing cluster-scoped: the backend reads no node.
    assert not [o for o in objects if o["kind"] in {"ClusterRole", "ClusterRoleBinding"}]


def test_the_base_renders_without_an_overlay(tmp_path: Path) -> None:
    """k8s/base alone (no namespace, no site settings) renders too: overlays build on it."""
    kubectl = require("kubectl")
    shutil.copytree(km.K8S, tmp_path / "k8s")
    out = subprocess.run(
        [kubectl, "kustomize", str(tmp_path / "k8s" / "base")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "namespace:" not in out.stdout
