"""Where a notebook container's network traffic may go (docker backend, outbound on).

The users' containers share one bridge network, ``nextpyter-users``, whose Linux bridge
is named :data:`USERS_BRIDGE`. The engine keeps them apart from each other
(``enable_icc=false``); these rules, for the firewall of the engine's host (the
Docker-in-Docker container in the compose deployment), keep them away from everything
that is not the internet:

- nothing addressed to the engine's host itself (``INPUT``): the engine's API, and any
  other service there;
- no new connection to private, shared, link-local or loopback addresses
  (``DOCKER-USER``, which the engine consults before its own forwarding rules): the
  sidecar, Redis, Nextcloud and its database on the deployment's networks, and cloud
  metadata services (169.254.169.254);
- replies to what a notebook opened itself pass.

One definition, applied by :func:`apply` (``nextpyter-admin egress-rules --apply`` on
the engine's host, and the tests' engine) and printed as shell by :func:`shell`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

USERS_BRIDGE = "nextpyter0"
BLOCKED_RANGES = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)


def egress_rules(bridge: str = USERS_BRIDGE) -> list[tuple[str, list[str]]]:
    """(chain, rule) pairs, in the order they must end up at the top of their chains."""
    rules: list[tuple[str, list[str]]] = [("INPUT", ["-i", bridge, "-j", "DROP"])]
    rules.append(
        (
            "DOCKER-USER",
            ["-i", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"],
        )
    )
    rules += [("DOCKER-USER", ["-i", bridge, "-d", cidr, "-j", "DROP"]) for cidr in BLOCKED_RANGES]
    return rules


def apply(prefix: Sequence[str] = (), bridge: str = USERS_BRIDGE) -> None:
    """Insert the rules that are missing (``prefix`` runs iptables elsewhere, e.g. in the
    engine's network namespace with nsenter); applying twice changes nothing."""
    iptables = [*prefix, "iptables", "-w"]
    # The engine makes DOCKER-USER at its start; make it if the engine has not yet.
    subprocess.run([*iptables, "-N", "DOCKER-USER"], capture_output=True, check=False)
    rules = egress_rules(bridge)
    # Inserted at position 1 in reverse order, so that they end up in the listed order.
    for chain, rule in reversed(rules):
        present = subprocess.run([*iptables, "-C", chain, *rule], capture_output=True, check=False)
        if present.returncode != 0:
            subprocess.run([*iptables, "-I", chain, "1", *rule], capture_output=True, check=True)
    # An engine that has just made DOCKER-USER itself also makes FORWARD jump to it.
    jump = ["FORWARD", "-j", "DOCKER-USER"]
    if subprocess.run([*iptables, "-C", *jump], capture_output=True, check=False).returncode:
        subprocess.run([*iptables, "-I", "FORWARD", "1", "-j", "DOCKER-USER"], check=True)


def shell(bridge: str = USERS_BRIDGE) -> str:
    """The same rules as a shell script for the engine's host (idempotent)."""
    lines = [
        "#!/bin/sh",
        "# NextPyter: notebook containers reach the internet only "
        "(see nextpyter/sidecar/runtime/egress.py)",
        "set -e",
        "iptables -w -N DOCKER-USER 2>/dev/null || true",
    ]
    for chain, rule in reversed(egress_rules(bridge)):
        spec = " ".join(rule)
        lines.append(
            f"iptables -w -C {chain} {spec} 2>/dev/null || iptables -w -I {chain} 1 {spec}"
        )
    lines.append(
        "iptables -w -C FORWARD -j DOCKER-USER 2>/dev/null"
        " || iptables -w -I FORWARD 1 -j DOCKER-USER"
    )
    return "\n".join(lines) + "\n"
