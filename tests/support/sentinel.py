"""Redis high availability on this machine: a master, a replica and three Sentinels
(Debian's redis-sentinel), on free loopback ports, each stopped by its pid.

Sentinel's timers are made short (a master is down after 1 s, a failover may take 3 s),
so that a test sees a failover within seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_lib

from devtools import services as devstack

SERVICE = "nextpyter"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def _ping(port: int) -> bool:
    client = redis_lib.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


@dataclass
class SentinelCluster:
    workdir: Path
    nodes: dict[int, devstack.Service] = field(default_factory=dict)  # by port
    sentinels: list[tuple[int, devstack.Service]] = field(default_factory=list)

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port, _ in self.sentinels)

    def env(self) -> dict[str, str]:
        """The sidecar's and pagletto's settings for this cluster."""
        return {
            "NEXTPYTER_REDIS_URL": "redis://sentinel/0",
            "NEXTPYTER_REDIS_SENTINELS": self.addresses,
            "NEXTPYTER_REDIS_SENTINEL_SERVICE": SERVICE,
        }

    def master_port(self) -> int:
        """The master's port as a majority of live sentinels names it."""
        votes: dict[int, int] = {}
        for port, service in self.sentinels:
            if service.process.poll() is not None:
                continue
            client = redis_lib.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            try:
                address = client.sentinel_get_master_addr_by_name(SERVICE)
            except redis_lib.RedisError:
                continue
            finally:
                client.close()
            if address:
                found = int(address[1])
                votes[found] = votes.get(found, 0) + 1
        if not votes:
            raise AssertionError("no sentinel names a master")
        return max(votes, key=lambda p: votes[p])

    def client(self, port: int) -> redis_lib.Redis:
        return redis_lib.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)

    def kill_master(self) -> int:
        """SIGKILL the master (by its pid), as a crash would; its port."""
        port = self.master_port()
        self.nodes[port].kill()
        return port

    def wait_failover(self, old: int, timeout: float = 30) -> int:
        """Until the sentinels name a new master that takes writes; its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                port = self.master_port()
            except AssertionError:
                port = old
            if port != old:
                client = self.client(port)
                try:
                    role = client.execute_command("ROLE")
                    if role and role[0] == "master":
                        return port
                except redis_lib.RedisError:
                    pass
                finally:
                    client.close()
            time.sleep(0.1)
        raise AssertionError(f"no failover within {timeout} s")

    def stop(self) -> None:
        for _, service in self.sentinels:
            service.stop()
        for service in self.nodes.values():
            service.stop()


def _node(workdir: Path, port: int, replica_of: int | None = None) -> devstack.Service:
    node_dir = workdir / f"redis-{port}"
    node_dir.mkdir(parents=True, exist_ok=True)
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(node_dir),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]
    if replica_of is not None:
        command += ["--replicaof", "127.0.0.1", str(replica_of)]
    service = devstack.spawn(f"redis-{port}", command, node_dir / "redis.log")
    service.address = f"redis://127.0.0.1:{port}/0"
    devstack.wait_ready(f"redis-server on {port}", lambda: _ping(port), service, 15)
    return service


def _sentinel(workdir: Path, port: int, master: int) -> devstack.Service:
    sentinel_dir = workdir / f"sentinel-{port}"
    sentinel_dir.mkdir(parents=True, exist_ok=True)
    conf = sentinel_dir / "sentinel.conf"  # Sentinel rewrites its own file: one each
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {sentinel_dir}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {master} 2\n"
        f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {SERVICE} 1\n"
    )
    service = devstack.spawn(
        f"sentinel-{port}", ["redis-sentinel", str(conf)], sentinel_dir / "log"
    )
    devstack.wait_ready(f"redis-sentinel on {port}", lambda: _ping(port), service, 15)
    return service


def start_cluster(workdir: Path) -> SentinelCluster:
    """A master, one replica in sync with it, and three sentinels that all see both."""
    cluster = SentinelCluster(workdir)
    try:
        master = devstack.free_port()
        cluster.nodes[master] = _node(workdir, master)
        replica = devstack.free_port()
        cluster.nodes[replica] = _node(workdir, replica, replica_of=master)
        for _ in range(3):
            port = devstack.free_port()
            cluster.sentinels.append((port, _sentinel(workdir, port, master)))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the replica synced, every sentinel sees it
            if _synced(cluster, replica) and _sentinels_see_replica(cluster):
                return cluster
            time.sleep(0.1)
        raise AssertionError("the replica did not sync or the sentinels did not find it")
    except BaseException:
        cluster.stop()
        raise


def _synced(cluster: SentinelCluster, replica: int) -> bool:
    client = cluster.client(replica)
    try:
        info = client.info("replication")
        return info.get("master_link_status") == "up"
    except redis_lib.RedisError:
        return False
    finally:
        client.close()


def _sentinels_see_replica(cluster: SentinelCluster) -> bool:
    for port, _ in cluster.sentinels:
        client = cluster.client(port)
        try:
            fields = client.sentinel_master(SERVICE)
            if (
                int(fields.get("num-slaves", 0)) < 1
                or int(fields.get("num-other-sentinels", 0)) < 2
            ):
                return False
        except redis_lib.RedisError:
            return False
        finally:
            client.close()
    return True
