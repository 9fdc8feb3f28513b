"""A network namespace for the development engine, joined to this machine by a veth pair on
10.213.x.0/30, so that its firewall and NextPyter's egress rules leave the machine's own
network as it is; and ``throttled``, which slows downloads down with ``tc`` on the veth."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .services import DevDockerError


@dataclass
class NetNS:
    """A network namespace of ours for an engine, joined to this machine by a veth pair:
    ``host_ip`` (this machine's end, a private address, like a deployment's internal
    network), ``ns_ip`` (the engine's host), and ``public_ip``, a documentation address
    (TEST-NET-2) on this machine's end that plays "the internet"."""

    name: str
    host_if: str
    host_ip: str
    ns_ip: str
    public_ip: str

    @property
    def enter(self) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.name}"]

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


def _ip(*args: str) -> None:
    run = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise DevDockerError(f"ip {' '.join(args)} failed: {run.stderr.strip()}")


def make_netns(record: Path) -> NetNS:
    """A new namespace; its name goes to ``record``, so that the next run removes it if
    this one dies before it can."""
    with contextlib.suppress(OSError, ValueError):
        name, host_if = record.read_text().split()
        NetNS(name, host_if, "", "", "").remove()
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=False).stdout
    subnet = next((n for n in range(16, 250) if f"10.213.{n}." not in used), None)
    if subnet is None:
        raise DevDockerError("no free 10.213.x.0/30 subnet for the engine's namespace")
    tag = f"{os.getpid() % 10000}{subnet}"
    ns = NetNS(
        f"npd-{tag}", f"nph{tag}", f"10.213.{subnet}.1", f"10.213.{subnet}.2", "198.51.100.7"
    )
    record.write_text(f"{ns.name} {ns.host_if}\n")
    inner = f"npn{tag}"
    _ip("netns", "add", ns.name)
    try:
        _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns.name)
        _ip("addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
        _ip("addr", "add", f"{ns.public_ip}/32", "dev", ns.host_if)
        _ip("link", "set", ns.host_if, "up")
        _ip("-n", ns.name, "link", "set", "lo", "up")
        _ip("-n", ns.name, "addr", "add", f"{ns.ns_ip}/30", "dev", inner)
        _ip("-n", ns.name, "link", "set", inner, "up")
        _ip("-n", ns.name, "route", "add", "default", "via", ns.host_ip)
    except DevDockerError:
        ns.remove()
        raise
    return ns


@contextlib.contextmanager
def throttled(netns: NetNS, rate: str = "40mbit") -> Iterator[None]:
    """Traffic from this machine to the engine's namespace (a registry's downloads) at
    ``rate`` (the kernel's token bucket filter on our end of the veth)."""
    subprocess.run(
        [
            "tc",
            "qdisc",
            "replace",
            "dev",
            netns.host_if,
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            "64kb",
            "latency",
            "500ms",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield
    finally:
        subprocess.run(
            ["tc", "qdisc", "del", "dev", netns.host_if, "root"], check=False, capture_output=True
        )
