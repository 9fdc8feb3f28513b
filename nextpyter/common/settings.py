"""Every ``NEXTPYTER_*`` setting, once: its name, default, range and meaning.

The services' loaders (``nextpyter/sidecar/config.py``, ``nextpyter/pagletto/config.py``,
``nextpyter/common/logs.py``) read a setting's default and range from here through the
readers below, so each is written once; docs/configuration.md's reference is generated
from this table (``python -m devtools.docs``; ``python -m nextpyter.common.settings``
prints it), and tests/unit/test_settings.py checks that every variable the code, the
compose deployment and the gateway template read is in it, and nothing else.

The compose deployment's own variables (``compose/.env``) are here too (``compose`` among
their readers), so that one name has one meaning everywhere; ``compose/.env.example``
gives each its default, checked against this table. Variables NextPyter sets for its own
processes are not settings: they start with an underscore (:data:`INTERNAL`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import env as _env
from .env import PREFIX, ConfigError

__all__ = [
    "INTERNAL",
    "RENAMED",
    "SECTIONS",
    "SETTINGS",
    "Section",
    "Setting",
    "boolean",
    "default",
    "directory",
    "integer",
    "markdown",
    "number",
    "redis_url",
    "secret",
    "text",
]

Kind = Literal["text", "secret", "integer", "number", "boolean", "path", "url", "choice", "list"]


@dataclass(frozen=True)
class Setting:
    """One environment variable, ``NEXTPYTER_<name>``."""

    name: str  # without the prefix
    # As the environment spells it ("" for empty); None: none (required, or computed).
    default: str | None
    meaning: str
    kind: Kind = "text"
    low: float | None = None  # integer and number: the range, both ends included
    high: float | None = None
    choices: tuple[str, ...] = ()  # choice: the allowed values
    services: tuple[str, ...] = ("sidecar",)  # what reads it
    required: bool = False
    secret: bool = False  # never logged or shipped in a file
    section: str = "sidecar"
    unit: str = ""  # of the range, in the docs ("s")
    shown: str = ""  # the docs' default where none is written (computed, or empty)
    values: str = ""  # the docs' allowed values, where the kind does not say it
    compose: str | None = None  # compose/.env's default, where it differs from `default`

    @property
    def variable(self) -> str:
        return PREFIX + self.name


@dataclass(frozen=True)
class Section:
    key: str
    title: str  # a heading of docs/configuration.md (its anchor is linked to)
    intro: str


SIDECAR = ("sidecar",)
PAGLETTO = ("pagletto",)
BOTH = ("sidecar", "pagletto")
COMPOSE = ("compose",)

SECTIONS: tuple[Section, ...] = (
    Section(
        "sidecar",
        "The sidecar",
        "Read by `nextpyter-sidecar` once, at start; every replica must have the same "
        'values. Some are read by pagletto or `nextpyter-admin` too ("read by").',
    ),
    Section(
        "docker",
        "Docker backend",
        "With `NEXTPYTER_BACKEND=docker`. The engine is found as every Docker client finds it: "
        "`DOCKER_HOST` (`unix:///var/run/docker.sock` by default, `tcp://dind:2376` for "
        "Docker-in-Docker), and for TLS `DOCKER_TLS_VERIFY=1` with `DOCKER_CERT_PATH` holding "
        "the client's `ca.pem`, `cert.pem` and `key.pem`. The sidecar must run as root or as "
        "`NEXTPYTER_DOCKER_UID` (it prepares each user's socket directory for that uid).",
    ),
    Section(
        "kubernetes",
        "Kubernetes backend",
        "With `NEXTPYTER_BACKEND=kubernetes` (needs the `kubernetes` extra). It also reads "
        "`NEXTPYTER_DOCKER_IMAGE`, `NEXTPYTER_DOCKER_UID`, "
        "`NEXTPYTER_DOCKER_GID` and `NEXTPYTER_DOCKER_WORKDIR` ([above](#docker-backend)); "
        "the cluster is the sidecar's own (its service account), or the one a kubeconfig "
        "names.",
    ),
    Section(
        "signin",
        "Sign-in",
        "Optional: users sign in to NextPyter with an OpenID Connect provider or Nextcloud's "
        'OAuth2 server, besides "Open in Jupyter" ([signin.md](signin.md), which gives '
        "the steps to register the client). Off while `NEXTPYTER_SIGNIN_PROVIDER` is empty.",
    ),
    Section(
        "serving",
        "Serving",
        "Flags of `nextpyter-sidecar` (the flag wins over the variable).",
    ),
    Section(
        "pagletto",
        "pagletto",
        "The pull worker ([pulls.md](pulls.md#running-pagletto)) reads `NEXTPYTER_REDIS_URL` "
        "and `NEXTPYTER_LOG_LEVEL` (above), the engine's `DOCKER_HOST`, `DOCKER_TLS_VERIFY` "
        "and `DOCKER_CERT_PATH` (as the sidecar), and these.",
    ),
    Section(
        "compose",
        "Compose deployment",
        "Variables of `compose/.env` that only the compose deployment reads "
        "([compose/README.md](../compose/README.md)); [compose/.env.example](../compose/"
        ".env.example) lists them with the sidecar's and pagletto's settings it passes on "
        "(those whose readers include `compose` above) and Nextcloud's own (`NEXTCLOUD_*`).",
    ),
    Section(
        "gateway",
        "Gateway template",
        "The placeholders of `gateway/nextpyter.conf.template`, rendered with `envsubst` "
        "(see [architecture.md](architecture.md#gateway)).",
    ),
)

SETTINGS_TABLE: tuple[Setting, ...] = (
    # -- the sidecar ---------------------------------------------------------------------
    Setting(
        "SECRET_KEY",
        None,
        "Signs the gateway session cookies and derives each Jupyter server's token. Shared "
        "by all replicas. Changing it logs every browser out and makes running servers "
        "unreachable until they are restarted. Generate one with `python3 -c 'import "
        "secrets; print(secrets.token_urlsafe(48))'`.",
        kind="secret",
        required=True,
        secret=True,
        values="at least 32 characters",
    ),
    Setting(
        "SECRET_KEY_FILE",
        "",
        "A file holding the secret key (a container secret; its line end is dropped), read "
        "when `NEXTPYTER_SECRET_KEY` is not set. The compose deployment makes one at its "
        "first start.",
        kind="path",
        shown="(none)",
        values="a readable file",
    ),
    Setting(
        "DATA_DIR",
        None,
        "Nextcloud's data directory; a user's files are `<DATA_DIR>/<uid>/files`.",
        kind="path",
        required=True,
        values="an existing directory",
    ),
    Setting(
        "JWKS",
        None,
        "Nextcloud's public keys: an `https://…` URL (the app's JWKS route) or an absolute "
        "file path. Cached; refreshed every `NEXTPYTER_JWKS_REFRESH_INTERVAL` s, and when a "
        "token names an unknown `kid` (at most every 10 s).",
        required=True,
        services=(*SIDECAR, "compose"),
        values="http(s) URL or absolute path",
        compose="http://nextcloud/index.php/apps/nextpyter/jwks.json",
    ),
    Setting(
        "TOKEN_ISSUER",
        None,
        "The `iss` every launch token must carry: Nextcloud's base URL. `nextpyter-admin "
        "token mint` uses it too; compose sets it from `NEXTCLOUD_URL`, and its Nextcloud "
        "hook gives it to the app.",
        kind="url",
        required=True,
        services=(*SIDECAR, "nextpyter-admin", "nextcloud hook"),
    ),
    Setting(
        "LAUNCH_ORIGINS",
        "",
        "Origins (`https://cloud.example.com`) besides the token issuer's from which a "
        "browser may post a launch form. Nextcloud's own origin (from "
        "`NEXTPYTER_TOKEN_ISSUER`) is always allowed; set this only if Nextcloud is reached "
        "under another address too.",
        kind="list",
        services=(*SIDECAR, "compose"),
        shown="(none)",
        values="comma-separated origins",
    ),
    Setting(
        "TOKEN_AUDIENCE",
        "nextpyter-sidecar",
        "The `aud` every launch token must carry (and `nextpyter-admin token mint` gives).",
        services=(*SIDECAR, "nextpyter-admin"),
    ),
    Setting(
        "REDIS_URL",
        "redis://127.0.0.1:6379/0",
        "Redis: single-use token ids, spawn locks, the settings from Nextcloud's admin page, "
        "the pull queue. The sidecar and pagletto must use the same one.",
        kind="url",
        services=BOTH,
        values="`redis://`, `rediss://` or `unix://` URL",
    ),
    Setting(
        "REDIS_SENTINELS",
        "",
        "Redis Sentinel: the sentinels to ask for the master (set with "
        "`NEXTPYTER_REDIS_SENTINEL_SERVICE`); the sidecar and pagletto then follow a failover "
        "by themselves and `NEXTPYTER_REDIS_URL` gives only the database number. What a "
        "failover can lose: [architecture.md](architecture.md#redis-high-availability).",
        kind="list",
        services=BOTH,
        shown="(none: one Redis at `NEXTPYTER_REDIS_URL`)",
        values="comma-separated `host:port`",
    ),
    Setting(
        "REDIS_SENTINEL_SERVICE",
        "nextpyter",
        "The master's name the sentinels monitor (`sentinel monitor <name> …`).",
        services=BOTH,
    ),
    Setting(
        "REDIS_PASSWORD",
        "",
        "The password of Redis (each master and replica), if `requirepass` is set and the URL "
        "has none.",
        kind="secret",
        services=BOTH,
        secret=True,
        shown="(none)",
    ),
    Setting(
        "REDIS_PASSWORD_FILE",
        "",
        "A file holding `NEXTPYTER_REDIS_PASSWORD` (a container secret).",
        kind="path",
        services=BOTH,
        shown="(none)",
        values="a readable file",
    ),
    Setting(
        "REDIS_SENTINEL_PASSWORD",
        "",
        "The sentinels' password (`requirepass` in sentinel.conf), if they have one.",
        kind="secret",
        services=BOTH,
        secret=True,
        shown="(none)",
    ),
    Setting(
        "REDIS_SENTINEL_PASSWORD_FILE",
        "",
        "A file holding `NEXTPYTER_REDIS_SENTINEL_PASSWORD` (a container secret).",
        kind="path",
        services=BOTH,
        shown="(none)",
        values="a readable file",
    ),
    Setting(
        "REDIS_TLS",
        "false",
        "With sentinels: talk TLS to the sentinels and the master (without them, a "
        "`rediss://` URL says so).",
        kind="boolean",
        services=BOTH,
    ),
    Setting(
        "REDIS_TLS_CA_FILE",
        "",
        "The CA certificates (PEM) that Redis's TLS certificates are checked against "
        "(the system's by default).",
        kind="path",
        services=BOTH,
        shown="(system CAs)",
    ),
    Setting(
        "REDIS_TLS_CERT_FILE",
        "",
        "A client certificate (PEM) for Redis's `tls-auth-clients`.",
        kind="path",
        services=BOTH,
        shown="(none)",
    ),
    Setting(
        "REDIS_TLS_KEY_FILE",
        "",
        "The client certificate's private key (PEM).",
        kind="path",
        services=BOTH,
        shown="(none)",
    ),
    Setting(
        "BACKEND",
        "local",
        "Where servers run. `local`: processes on this machine (no isolation between users "
        "beyond file permissions). `docker`: one hardened container per user on a Docker "
        "engine ([below](#docker-backend)). `kubernetes`: one hardened pod per user "
        "([below](#kubernetes-backend)).",
        kind="choice",
        choices=("local", "docker", "kubernetes"),
    ),
    Setting(
        "RUNTIME_DIR",
        "/run/nextpyter",
        "Per-user directories with the server's unix socket. Local backend: also its state "
        "and log; the gateway (nginx workers) must be able to open the sockets, so run "
        "nginx's workers as the sidecar's user. Docker backend: `<RUNTIME_DIR>/docker/`; it "
        "must be the same path for the sidecar, the engine (bind mounts) and the gateway. "
        "Keep it short (43 characters at most): a unix socket's path may not exceed 107 "
        "bytes, and a user's socket path adds up to 64.",
        kind="path",
        values="absolute path",
    ),
    Setting(
        "PROFILES",
        "default",
        "The profile names a launch token may choose until Nextcloud's admin page saves "
        "profiles of its own.",
        kind="list",
        services=(*SIDECAR, "compose"),
        values="comma-separated names of `a-z 0-9 _ -`",
    ),
    Setting(
        "CLOCK_SKEW",
        "30",
        "Clock difference allowed between Nextcloud and the sidecar.",
        kind="integer",
        low=0,
        high=300,
        unit="s",
    ),
    Setting(
        "COOKIE_SECURE",
        "true",
        "Mark the session cookie `Secure`. Keep it on whenever the gateway is served over "
        "HTTPS (production); browsers also accept Secure cookies from `http://localhost`.",
        kind="boolean",
        services=(*SIDECAR, "compose"),
    ),
    Setting(
        "SESSION_MAX_AGE",
        "43200",
        "Lifetime of a browser session on the gateway.",
        kind="integer",
        low=60,
        high=30 * 24 * 3600,
        unit="s",
    ),
    Setting(
        "SESSION_IDLE_TIMEOUT",
        str(8 * 3600),
        "How long a browser session lives unused: a session cookie not used for this long "
        "is refused (the gateway renews it, at most once a minute, while it is used). At "
        "most `NEXTPYTER_SESSION_MAX_AGE`. While Redis is down cookies are not renewed, so "
        "a session revoked meanwhile ends at the latest this long after its last renewal.",
        kind="integer",
        low=60,
        high=30 * 24 * 3600,
        unit="s",
        shown="28800 (at most the session's lifetime)",
    ),
    Setting(
        "START_TIMEOUT",
        "60",
        "How long a server may take to answer after it is started.",
        kind="integer",
        low=5,
        high=3600,
        unit="s",
    ),
    Setting(
        "PROGRESS_TIMEOUT",
        "300",
        "Longest a progress stream stays open while the launch says nothing (a launch "
        "waiting for an image's pull says how it goes at least every 30 s).",
        kind="integer",
        low=60,
        high=3600,
        unit="s",
    ),
    Setting(
        "PULL_TIMEOUT",
        "1800",
        "Docker backend: how long a launch waits for pagletto to pull its image (see "
        "[pulls.md](pulls.md)).",
        kind="integer",
        low=10,
        high=86400,
        unit="s",
    ),
    Setting(
        "JWKS_REFRESH_INTERVAL",
        "300",
        "Time before the cached JWKS is fetched again.",
        kind="integer",
        low=10,
        high=86400,
        unit="s",
    ),
    Setting(
        "CULL_INTERVAL",
        "60",
        "Time between passes of the culler that stops idle or too old servers (0 turns it "
        "off in this process).",
        kind="integer",
        low=0,
        high=3600,
        unit="s",
    ),
    Setting(
        "MAX_STREAMS",
        "16",
        "Progress streams (server-sent events) one worker holds open at once; keep it below "
        "`NEXTPYTER_THREADS` so short requests (the gateway's authorizer) always find a "
        "thread. Past it, a stream sends what is new and the browser polls again a second "
        "later (0: always so).",
        kind="integer",
        low=0,
        high=10_000,
    ),
    Setting(
        "GPUS",
        "",
        "The GPUs servers are given (docker and local backends): device indices or UUIDs, "
        "separated by commas, or `auto` for those `nvidia-smi -L` lists. With an inventory, "
        "a profile with N GPUs gets N devices of its own (shared only with profiles that say "
        "`gpu_shared`), kept in Redis and in the containers' labels, and a launch is refused "
        "at once when too few are free; empty: a profile's GPUs are a count the engine "
        "picks devices for, with no bookkeeping (see docs/gpus.md).",
        shown="none (no bookkeeping)",
        values="`0,1,2,3`, `GPU-<uuid>,...` or `auto`",
    ),
    Setting(
        "LOCAL_PYTHON",
        "",
        "Local backend: the interpreter that runs `-m jupyter_server` (it needs "
        "`jupyter_server`, `jupyterlab`, `ipykernel`).",
        shown="the sidecar's Python",
        values="a Python interpreter",
    ),
    Setting(
        "DEV_SIGNING_KEY",
        "",
        "Development only: a private Ed25519 key (PEM) that turns on `/dev/open`, a page "
        "that mints launch tokens. Never set it in production.",
        kind="path",
        shown="(none)",
        values="an existing file",
    ),
    Setting(
        "LOG_LEVEL",
        "INFO",
        "The least severe log lines written (standard error).",
        kind="choice",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        services=(*BOTH, "compose"),
        values="`DEBUG`, `INFO`, `WARNING`, `ERROR` (any case)",
    ),
    Setting(
        "LOG_FORMAT",
        "text",
        "`text`: one line per record (time, pid, level, logger, message). `json`: one JSON "
        "object per line (`time`, `level`, `logger`, `message`, `request_id`, `pid`, and "
        "`exception`), for a log collector.",
        kind="choice",
        choices=("text", "json"),
        services=BOTH,
    ),
    Setting(
        "ADMIN_URL",
        "",
        "`nextpyter-admin`'s commands over the API (`sessions list`, `images`, `config`, "
        "`cull`): the sidecar's URL (`--url`).",
        services=("nextpyter-admin",),
        shown="(none)",
        values="http(s) URL",
    ),
    Setting(
        "ADMIN_TOKEN_FILE",
        "",
        "`nextpyter-admin`'s commands over the API: a file holding an API token with the "
        "`admin` scope (`--token-file`).",
        kind="path",
        services=("nextpyter-admin",),
        shown="(none)",
        values="a readable file",
    ),
    # -- the docker backend --------------------------------------------------------------
    Setting(
        "DOCKER_IMAGE",
        None,
        "The image servers run when the admin page has chosen none; also the only allowed "
        "image until the admin page lists some. It needs `jupyter` (jupyter_server, "
        "JupyterLab, ipykernel) on its `PATH`, like the Jupyter Docker Stacks images. The "
        "compose deployment's Nextcloud hook makes it the app's first default image.",
        required=True,
        services=(*SIDECAR, "compose", "nextcloud hook"),
        section="docker",
        values="an image reference",
        compose="quay.io/jupyter/scipy-notebook:latest",
    ),
    Setting(
        "DOCKER_UID",
        "33",
        "The (non-root) user notebooks run as: the owner of Nextcloud's data (www-data is "
        "33 on Debian's and the official images), so files written in a notebook belong to "
        "Nextcloud. The compose deployment runs the sidecar and pagletto as this uid too, "
        "and its engine gives it the client key and the new shared directories.",
        kind="integer",
        low=1,
        high=2**31 - 1,
        services=(*SIDECAR, "compose", "engine"),
        section="docker",
    ),
    Setting(
        "DOCKER_GID",
        "33",
        "The group notebooks run as (with `NEXTPYTER_DOCKER_UID`; the engine's own default "
        "is that uid).",
        kind="integer",
        low=1,
        high=2**31 - 1,
        services=(*SIDECAR, "compose", "engine"),
        section="docker",
    ),
    Setting(
        "DOCKER_WORKDIR",
        "/home/jovyan/work",
        "Where the user's files are mounted; its parent is the notebook's home (a "
        "size-limited tmpfs).",
        section="docker",
        values="absolute path, 2 to 8 levels, outside the system's folders",
    ),
    Setting(
        "DOCKER_OUTBOUND",
        "true",
        "Outbound network access (for `pip install`). `false`: containers have no network "
        "at all. With `true`, apply NextPyter's egress rules on the engine's host "
        "(`nextpyter-admin egress-rules`, see docs/architecture.md), or notebooks can reach "
        "whatever the engine's host can.",
        kind="boolean",
        services=(*SIDECAR, "compose"),
        section="docker",
    ),
    Setting(
        "DOCKER_NETWORK",
        "nextpyter-users",
        "The bridge network of user containers, created on first use on the Linux bridge "
        "`nextpyter0` with inter-container traffic off (`enable_icc=false`). An existing "
        "network of that name that allows it, or is on another bridge, is refused.",
        section="docker",
        values="a network name, not `host`, `none`, `bridge` or `default`",
    ),
    Setting(
        "DOCKER_SCRATCH_SIZE",
        "1g",
        "Size of each of the two tmpfs scratch areas (`/tmp` and the home). They count "
        "against the profile's memory.",
        section="docker",
        values="like `512m` or `2g`",
    ),
    Setting(
        "DOCKER_STOP_TIMEOUT",
        "5",
        "Time a stopping server gets after SIGTERM before SIGKILL.",
        kind="integer",
        low=0,
        high=300,
        unit="s",
        section="docker",
    ),
    # -- serving (nextpyter-sidecar's flags) ---------------------------------------------
    Setting(
        "BIND",
        "127.0.0.1:8000",
        "`--bind`: where gunicorn listens. Only the gateway and admins should reach it.",
        section="serving",
        values="`host:port` or `unix:/path`",
    ),
    Setting(
        "WORKERS",
        "2",
        "`--workers`: gunicorn worker processes.",
        kind="integer",
        services=(*SIDECAR, "compose"),
        section="serving",
        values="a whole number",
    ),
    Setting(
        "THREADS",
        "32",
        "`--threads`: threads per worker (`gthread`); progress streams hold a thread each "
        "while they wait.",
        kind="integer",
        section="serving",
        values="a whole number",
    ),
    # -- pagletto ------------------------------------------------------------------------
    Setting(
        "PULL_CLAIM_IDLE",
        "60",
        "Time an entry may go unheard of before another worker takes it over.",
        kind="number",
        low=0.5,
        high=86400,
        unit="s",
        services=PAGLETTO,
        section="pagletto",
    ),
    Setting(
        "PULL_MAX_DELIVERIES",
        "5",
        "Deliveries of a job before it goes to the dead letters.",
        kind="integer",
        low=1,
        high=1000,
        services=PAGLETTO,
        section="pagletto",
    ),
    Setting(
        "PULL_RETRIES",
        "3",
        "Tries again after a transient error, within one delivery.",
        kind="integer",
        low=0,
        high=100,
        services=PAGLETTO,
        section="pagletto",
    ),
    Setting(
        "PULL_BACKOFF",
        "2",
        "Time before the first try again; it doubles with each try (±20 % jitter).",
        kind="number",
        low=0,
        high=600,
        unit="s",
        services=PAGLETTO,
        section="pagletto",
    ),
    Setting(
        "PULL_BACKOFF_MAX",
        "60",
        "The longest wait between tries (at least `NEXTPYTER_PULL_BACKOFF`).",
        kind="number",
        low=0,
        high=3600,
        unit="s",
        services=PAGLETTO,
        section="pagletto",
    ),
    Setting(
        "PULL_STALL_TIMEOUT",
        "300",
        "Time a pull may go without a word from the engine (no progress at all) before "
        "pagletto cuts it and tries again: a registry that stops sending without closing "
        "the connection would otherwise hold the worker for ever.",
        kind="number",
        low=1,
        high=86400,
        unit="s",
        services=(*PAGLETTO, "compose"),
        section="pagletto",
    ),
    Setting(
        "REGISTRY_AUTH",
        "",
        "Credentials for private registries: the path of a Docker `config.json` (what "
        '`docker login` writes: `{"auths": {"registry.example.com": {"auth": "<base64 '
        'user:password>"}}}`). Read at start; pagletto logs which registries it has '
        "credentials for, never the credentials. Without it, pulls carry no credentials "
        "(not even the engine host's own).",
        kind="path",
        services=(*PAGLETTO, "compose"),
        section="pagletto",
        shown="(none)",
        values="a readable file",
    ),
    Setting(
        "PULL_WORKER_NAME",
        None,
        "The worker's consumer name; it must differ between workers that run at once (a "
        "worker restarted under its old name takes its own stalled entry back).",
        services=PAGLETTO,
        section="pagletto",
        shown="`<hostname>-<pid>`",
        values="1-100 printable characters",
    ),
    Setting(
        "PULL_METRICS_ADDR",
        "",
        "Where pagletto serves its Prometheus metrics (`/metrics`, unauthenticated: an "
        "internal address only), as `host:port`; off when empty.",
        services=PAGLETTO,
        section="pagletto",
        shown="(off)",
        values="`host:port`",
    ),
    # -- the kubernetes backend (nextpyter/sidecar/kube_settings.py) ---------------------
    Setting(
        "KUBE_DATA_CLAIM",
        None,
        "The ReadWriteMany PersistentVolumeClaim that holds Nextcloud's data directory; each "
        "user's folder of it is mounted into that user's pod.",
        required=True,
        section="kubernetes",
        values="a PersistentVolumeClaim name",
    ),
    Setting(
        "KUBE_NAMESPACE",
        None,
        "The namespace the notebooks' pods, Secrets and ConfigMaps go in.",
        section="kubernetes",
        shown="the sidecar's own, else `default`",
        values="a namespace name (1-63 of `a-z 0-9 -`)",
    ),
    Setting(
        "KUBE_CONFIG",
        "",
        "A kubeconfig file, for a sidecar outside the cluster; empty in the cluster (the "
        "sidecar's service account).",
        kind="path",
        section="kubernetes",
        shown="(none)",
        values="an existing file",
    ),
    Setting(
        "KUBE_SERVICE_ACCOUNT",
        "",
        "The service account the notebooks' pods run as (its token is never mounted); empty: "
        "the namespace's default.",
        section="kubernetes",
        shown="(none)",
        values="a service account name",
    ),
    Setting(
        "KUBE_SCRATCH_SIZE",
        "1g",
        "Size of each of the two memory-backed scratch volumes (`/tmp` and the home).",
        section="kubernetes",
        values="like `512m` or `2g`",
    ),
    Setting(
        "KUBE_EPHEMERAL_STORAGE",
        "1g",
        "The pod's disk outside its volumes (its logs, mostly).",
        section="kubernetes",
        values="like `512m` or `2g`",
    ),
    Setting(
        "KUBE_NODE_SELECTOR",
        "",
        "Node labels a notebook's pod must run on, like `kubernetes.io/os=linux,gpu=true`.",
        kind="list",
        section="kubernetes",
        shown="(none)",
        values="`key=value` pairs, comma-separated",
    ),
    Setting(
        "KUBE_TOLERATIONS",
        "[]",
        "Taints a notebook's pod tolerates, as Kubernetes writes them: "
        '`[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]`.',
        section="kubernetes",
        values="a JSON list of tolerations",
    ),
    Setting(
        "KUBE_IMAGE_PULL_SECRETS",
        "",
        "Secrets (in the namespace) with registry credentials for the notebook images.",
        kind="list",
        section="kubernetes",
        shown="(none)",
        values="Secret names, comma-separated",
    ),
    Setting(
        "KUBE_STOP_TIMEOUT",
        "5",
        "Time a stopping server's pod gets after SIGTERM before it is killed.",
        kind="integer",
        low=0,
        high=300,
        unit="s",
        section="kubernetes",
    ),
    Setting(
        "KUBE_PAUSE_IMAGE",
        "registry.k8s.io/pause:3.10",
        "What a pre-pull DaemonSet's pods run once their init containers have pulled the "
        "images: the kubelet's own sandbox image, which every node has.",
        section="kubernetes",
        values="an image reference",
    ),
    # -- the compose deployment (compose/.env) -------------------------------------------
    Setting(
        "GATEWAY_URL",
        "http://localhost:8081",
        "The gateway (notebooks, the launch page) as browsers reach it: another origin than "
        "Nextcloud's. The Nextcloud hook gives it to the app at the first start.",
        kind="url",
        services=("compose", "nextcloud hook"),
        section="compose",
    ),
    Setting(
        "GATEWAY_BIND",
        "127.0.0.1",
        "Where the gateway's port is published: `127.0.0.1` (behind a reverse proxy), or "
        "`0.0.0.0`.",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "GATEWAY_PORT",
        "8081",
        "The port the gateway is published on.",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "SIDECAR_REPLICAS",
        "2",
        "How many sidecars run (they share everything through Redis).",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "ENGINE_ARGS",
        "",
        "More flags for the Docker-in-Docker engine's dockerd, e.g. `--registry-mirror=URL`.",
        services=("compose", "engine"),
        section="compose",
        shown="(none)",
    ),
    Setting(
        "ENGINE_SANS",
        "",
        "The engine image (`compose/engine/`): more names or IP addresses "
        "(space-separated) its server certificate is valid for, besides `engine`, "
        "`localhost`, its host name and 127.0.0.1.",
        services=("engine",),
        section="compose",
        shown="(none)",
    ),
    Setting(
        "DB_IMAGE",
        "postgres:16-bookworm",
        "The database image (PostgreSQL).",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "SIDECAR_IMAGE",
        "nextpyter/sidecar:local",
        "The sidecar image `docker compose build` makes (or that you pushed).",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "PAGLETTO_IMAGE",
        "nextpyter/pagletto:local",
        "The pagletto image.",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "ENGINE_IMAGE",
        "nextpyter/engine:local",
        "The engine image (NextPyter's entrypoint on Docker-in-Docker).",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "PYTHON_BASE",
        "python:3.11-slim-bookworm",
        "What the sidecar and pagletto images are built on: Debian-based, Python 3.11.",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "ENGINE_BASE",
        "docker:27-dind",
        "What the engine image is built on: the official Docker-in-Docker image.",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "REDIS_IMAGE",
        "redis:7-bookworm",
        "The Redis image.",
        services=COMPOSE,
        section="compose",
    ),
    Setting(
        "GATEWAY_IMAGE",
        "nginx:1.27-bookworm",
        "The gateway's image: stock nginx.",
        services=COMPOSE,
        section="compose",
    ),
    # -- sign-in -------------------------------------------------------------------------
    Setting(
        "SIGNIN_PROVIDER",
        "",
        "Sign-in: `oidc` (any OpenID Connect provider, by its discovery document), "
        "`nextcloud` (Nextcloud's built-in OAuth2 server), or empty (off).",
        kind="choice",
        choices=("", "oidc", "nextcloud"),
        section="signin",
    ),
    Setting(
        "SIGNIN_ISSUER",
        "",
        "`oidc`: the provider's issuer, exactly as its discovery document says it (the "
        "document is at `<issuer>/.well-known/openid-configuration`). `nextcloud`: "
        "Nextcloud's base URL, e.g. `https://cloud.example.com`.",
        kind="url",
        section="signin",
    ),
    Setting(
        "SIGNIN_CLIENT_ID",
        "",
        "The client id NextPyter was registered with at the provider.",
        section="signin",
    ),
    Setting(
        "SIGNIN_CLIENT_SECRET",
        "",
        "The client secret; prefer `NEXTPYTER_SIGNIN_CLIENT_SECRET_FILE`.",
        kind="secret",
        secret=True,
        section="signin",
    ),
    Setting(
        "SIGNIN_CLIENT_SECRET_FILE",
        "",
        "A file holding the client secret (a container secret; its line end is dropped).",
        kind="path",
        shown="(none)",
        values="a readable file",
        section="signin",
    ),
    Setting(
        "PUBLIC_URL",
        "",
        "The gateway's origin as browsers reach it, e.g. `https://jupyter.example.com`; the "
        "redirect URI to register is this and `/hub/callback`. Required with sign-in.",
        kind="url",
        section="signin",
    ),
    Setting(
        "SIGNIN_USER_CLAIM",
        "preferred_username",
        "`oidc`: the ID token claim that holds the Nextcloud user id (installations that "
        "sign users into Nextcloud through an OIDC app map identities their own way).",
        section="signin",
    ),
    Setting(
        "SIGNIN_GROUPS_CLAIM",
        "groups",
        "`oidc`: the ID token claim with the user's groups (a list of names), if any; a "
        "profile named like one of them is offered on the dashboard.",
        section="signin",
    ),
    Setting(
        "SIGNIN_SCOPES",
        "openid profile",
        "`oidc`: the scopes asked for (must include `openid`); add the one that puts groups "
        "in the ID token if the provider has one.",
        section="signin",
    ),
    # -- the gateway template ------------------------------------------------------------
    Setting(
        "GATEWAY_LISTEN",
        None,
        "What the gateway listens on, e.g. `8080` or `127.0.0.1:8080`.",
        required=True,
        services=("gateway",),
        section="gateway",
    ),
    Setting(
        "SIDECAR_ADDR",
        None,
        "The sidecar, e.g. `127.0.0.1:8000` or `unix:/run/nextpyter/sidecar.sock`.",
        required=True,
        services=("gateway",),
        section="gateway",
    ),
)

SETTINGS: Mapping[str, Setting] = {setting.name: setting for setting in SETTINGS_TABLE}

# Names NextPyter sets for its own processes: contracts between them, not settings.
INTERNAL: Mapping[str, str] = {
    "_NEXTPYTER_GATEWAY_SECRET_FILE": "a Jupyter server's: the file with the secret the "
    "gateway's requests carry (read once, then removed)",
    "_NEXTPYTER_USER_ID": "a Jupyter server's: the Nextcloud user it serves",
    "_NEXTPYTER_SERVER": "the local backend's mark on each server process "
    "(`<installation>:<slug>:<nonce>`), by which it finds its servers again",
    "_NEXTPYTER_SHARED_DIRS": "compose → engine: the directories it shares with the sidecar",
    "_NEXTPYTER_SIDECAR_URL": "compose → Nextcloud's hook: the sidecar's address from Nextcloud",
    "_NEXTPYTER_RENAMED": "compose → its `secrets` service: renamed settings still set in "
    "`compose/.env`, which stop the start with what to rename",
}

# Old compose/.env names → the settings that replaced them (the same value had two names).
RENAMED: Mapping[str, str] = {
    "NEXTPYTER_UID": "NEXTPYTER_DOCKER_UID",
    "NEXTPYTER_GID": "NEXTPYTER_DOCKER_GID",
    "NEXTPYTER_IMAGE": "NEXTPYTER_DOCKER_IMAGE",
}


# -- readers: the typed readers of env.py, with the table's default and range ------------
def _of(name: str, *kinds: Kind) -> Setting:
    setting = SETTINGS[name]
    if setting.kind not in kinds:
        raise TypeError(f"{setting.variable} is a {setting.kind} setting, not {kinds[0]}")
    return setting


def _bounds(setting: Setting) -> tuple[float, float]:
    if setting.low is None or setting.high is None or setting.default is None:
        raise TypeError(f"{setting.variable} has no default or no range")
    return setting.low, setting.high


def default(name: str) -> str:
    """The setting's default as the environment spells it (for a dataclass's field)."""
    value = SETTINGS[name].default
    if value is None:
        raise TypeError(f"{PREFIX}{name} has no default")
    return value


def text(env: Mapping[str, str], name: str, computed: str | None = None) -> str:
    """The value as given; the table's default when unset or empty, or ``computed`` for a
    setting whose default is computed at start; required when it has neither."""
    setting = _of(name, "text", "url", "choice", "list", "path")
    if computed is not None and (setting.default is not None or setting.required):
        raise TypeError(f"{setting.variable} has a default of its own")
    return _env.get(env, name, setting.default if computed is None else computed)


def secret(env: Mapping[str, str], name: str) -> str:
    """``NEXTPYTER_<name>``, or the contents of the file ``NEXTPYTER_<name>_FILE`` names."""
    _of(name, "secret")
    _of(name + "_FILE", "path")
    return _env.secret(env, name)


def integer(env: Mapping[str, str], name: str) -> int:
    setting = _of(name, "integer")
    low, high = _bounds(setting)
    return _env.integer(env, name, int(str(setting.default)), int(low), int(high))


def number(env: Mapping[str, str], name: str) -> float:
    setting = _of(name, "number")
    low, high = _bounds(setting)
    return _env.number(env, name, float(str(setting.default)), float(low), float(high))


def boolean(env: Mapping[str, str], name: str) -> bool:
    setting = _of(name, "boolean")
    return _env.boolean(env, name, setting.default == "true")


def directory(env: Mapping[str, str], name: str) -> Path:
    """An absolute path (not checked to exist)."""
    setting = _of(name, "path")
    return _env.directory(env, name, setting.default)


def redis_url(env: Mapping[str, str]) -> str:
    url = text(env, "REDIS_URL")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{PREFIX}REDIS_URL must start with redis://, rediss:// or unix://")
    return url


# -- the reference in docs/configuration.md ----------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(setting: Setting) -> str:
    if setting.shown:
        shown = setting.shown
    elif setting.required:
        shown = "(required)"
    elif setting.default is None or setting.default == "":
        shown = "(none)"
    else:
        shown = f"`{setting.default}`"
    if setting.compose is not None:
        shown += f"; compose: `{setting.compose}`"
    return shown


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _values(setting: Setting) -> str:
    if setting.values:
        return setting.values
    if setting.kind in ("integer", "number") and setting.low is not None:
        assert setting.high is not None
        unit = f" {setting.unit}" if setting.unit else ""
        return f"{_number(setting.low)} to {_number(setting.high)}{unit}"
    if setting.kind == "boolean":
        return "`true` or `false`"
    if setting.kind == "choice":
        return ", ".join(f"`{choice}`" for choice in setting.choices)
    return {"path": "absolute path", "url": "URL"}.get(setting.kind, "")


def markdown(
    settings: Iterable[Setting] = SETTINGS_TABLE, sections: Iterable[Section] = SECTIONS
) -> str:
    """The reference part of docs/configuration.md: a table per section."""
    settings = tuple(settings)
    out: list[str] = []
    for section in sections:
        rows = [s for s in settings if s.section == section.key]
        out += [f"## {section.title}", "", section.intro, ""]
        out += ["| variable | default | values | read by | meaning |", "|---|---|---|---|---|"]
        for s in rows:
            cells = (f"`{s.variable}`", _default(s), _values(s), ", ".join(s.services), s.meaning)
            out.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        out.append("")
        if section.key == "compose":
            out += [
                "Renamed (a `compose/.env` that still sets an old name stops at the "
                "`secrets` service, saying what to rename):",
                "",
                "| old name | new name |",
                "|---|---|",
                *(f"| `{old}` | `{new}` |" for old, new in RENAMED.items()),
                "",
            ]
    out += [
        "## Internal variables",
        "",
        "NextPyter sets these for its own processes; they are not settings (hence the leading "
        "underscore), and setting them changes nothing or breaks something.",
        "",
        *(f"- `{name}`: {meaning}" for name, meaning in INTERNAL.items()),
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(markdown())
