"""The egress rules for the Docker engine's host, applied for real in a throwaway network
namespace (never this machine's own firewall)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from nextpyter.sidecar.cli import admin_main
from nextpyter.sidecar.runtime import egress
from tests.support.need import require, require_root


@pytest.fixture
def netns() -> Iterator[list[str]]:
    require("iptables")
    require("nsenter")
    require_root("network namespaces need root")
    name = f"npt-egress-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield ["nsenter", f"--net=/run/netns/{name}"]
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def _rules(enter: list[str]) -> list[str]:
    out = subprocess.run([*enter, "iptables", "-w", "-S"], capture_output=True, text=True)
    return out.stdout.splitlines()


def test_rules_are_applied_once_and_in_order(netns: list[str]) -> None:
    egress.apply(prefix=netns)
    first = _rules(netns)
    egress.apply(prefix=netns)  # again: nothing changes
    assert _rules(netns) == first
    user_chain = [line for line in first if line.startswith("-A DOCKER-USER")]
    assert user_chain[0] == (
        "-A DOCKER-USER -i nextpyter0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    )
    assert user_chain[1:] == [
        f"-A DOCKER-USER -d {cidr} -i nextpyter0 -j DROP" for cidr in egress.BLOCKED_RANGES
    ]
    assert "-A INPUT -i nextpyter0 -j DROP" in first
    assert "-A FORWARD -j DOCKER-USER" in first


def test_the_shell_script_applies_the_same_rules(netns: list[str]) -> None:
    script = egress.shell()
    subprocess.run([*netns, "sh", "-c", script], check=True)
    once = _rules(netns)
    subprocess.run([*netns, "sh", "-c", script], check=True)
    assert _rules(netns) == once
    egress.apply(prefix=netns)  # the Python path agrees: nothing to add
    assert _rules(netns) == once


def test_the_admin_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    admin_main(["egress-rules"])
    assert capsys.readouterr().out == egress.shell()
