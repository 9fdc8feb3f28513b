"""The culler's rules (cullrules.decide) and what counts as activity (runtime/activity.py),
as pure functions; dynconfig's per-profile idle timeout and busy limit."""

from __future__ import annotations

import pytest

from nextpyter.sidecar import cullrules, dynconfig, stopnotice
from nextpyter.sidecar.problems import Problem
from nextpyter.sidecar.runtime import Server
from nextpyter.sidecar.runtime.activity import Activity, from_listings
from nextpyter.sidecar.usage import Stop

NOW = 1_800_000_000.0


def server(profile: str = "default", age: float = 7200) -> Server:
    return Server("ann", "ann", profile, "running", NOW - age)


def config(**kw: object) -> dynconfig.RuntimeConfig:
    body: dict[str, object] = {"profiles": {"default": {}, "gpu": {"gpu": 1, "idle_timeout": 600}}}
    body.update(kw)
    return dynconfig.parse(body)


def decide(
    seen: Activity | None, cfg: dynconfig.RuntimeConfig, srv: Server | None = None
) -> tuple[str, str]:
    return cullrules.decide(
        srv or server(), cfg, NOW, 0.0, lambda: seen, lambda: pytest.fail("not asked")
    )


def test_a_busy_kernel_keeps_its_server_however_long_it_is_silent() -> None:
    silent = Activity(last=NOW - 5 * 3600, busy=True)
    assert decide(silent, config(idle_timeout=3600)) == ("", "")


def test_the_busy_limit_is_separate_and_off_by_default() -> None:
    silent = Activity(last=NOW - 5 * 3600, busy=True)
    assert config().busy_timeout == 0
    kind, why = decide(
        silent, config(idle_timeout=3600, busy_timeout=4 * 3600), server(age=6 * 3600)
    )
    assert kind == cullrules.BUSY and "5 h" in why


def test_idle_kernels_are_culled_after_the_timeout_and_not_before() -> None:
    cfg = config(idle_timeout=3600)
    assert decide(Activity(last=NOW - 3500, busy=False), cfg) == ("", "")
    assert decide(Activity(last=NOW - 3700, busy=False), cfg) == ("idle", "idle for 60 min")


def test_a_launch_and_the_start_count_as_activity() -> None:
    cfg = config(idle_timeout=3600)
    nothing = Activity(last=0.0, busy=False)
    assert decide(nothing, cfg, server(age=1800)) == ("", "")  # started 30 min ago
    kept = cullrules.decide(server(), cfg, NOW, NOW - 60, lambda: nothing, lambda: None)
    assert kept == ("", "")


def test_a_profile_has_its_own_idle_timeout() -> None:
    cfg = config(idle_timeout=3600)
    quiet = Activity(last=NOW - 900, busy=False)
    assert decide(quiet, cfg) == ("", "")
    assert decide(quiet, cfg, server("gpu")) == ("idle", "idle for 10 min")
    only_profile = config()  # no global timeout: only the gpu profile is culled
    assert cullrules.any_limit(only_profile)
    assert decide(quiet, only_profile) == ("", "")
    assert decide(quiet, only_profile, server("gpu"))[0] == "idle"


def test_the_maximum_lifetime_stays() -> None:
    busy = Activity(last=NOW, busy=True)
    assert decide(busy, config(max_lifetime=3600)) == (
        "lifetime",
        "ran for the maximum lifetime of 60 min",
    )
    assert decide(busy, config(max_lifetime=12 * 3600), server(age=13 * 3600))[1].endswith(
        "of 12 h"
    )


def test_without_kernel_listings_the_servers_own_report_is_used_and_none_keeps_it() -> None:
    cfg = config(idle_timeout=60)
    old = cullrules.decide(server(), cfg, NOW, 0.0, lambda: None, lambda: NOW - 120)
    assert old[0] == "idle"
    assert cullrules.decide(server(), cfg, NOW, 0.0, lambda: None, lambda: None) == ("", "")


def test_activity_from_the_listings() -> None:
    kernels = [
        {"id": "a", "execution_state": "idle", "last_activity": "2027-01-15T08:00:00.000000Z"},
        {"id": "b", "execution_state": "busy", "last_activity": "2027-01-15T07:00:00Z"},
    ]
    terminals = [{"name": "1", "last_activity": "2027-01-15T09:00:00+00:00"}]
    seen = from_listings(kernels, terminals)
    assert seen is not None and seen.busy and seen.kernels == 2 and seen.terminals == 1
    assert seen.last == 1_800_003_600.0  # the terminal: 2027-01-15T09:00:00Z
    assert from_listings([], None) == Activity(last=0.0, busy=False)
    assert from_listings({"message": "no"}, None) is None


def test_spans_and_sentences() -> None:
    assert [cullrules.span(s) for s in (30, 3600, 5400, 7200, 9000, 43200)] == [
        "30 s",
        "60 min",
        "90 min",
        "2 h",
        "2 h 30 min",
        "12 h",
    ]
    stop = Stop("idle", "idle for 60 min", NOW)
    hhmm = stopnotice.when(NOW, NOW)
    assert len(hhmm) == 5
    assert stopnotice.sentence(stop, NOW) == f"Your server stopped at {hhmm}: idle for 60 min"
    assert stopnotice.sentence(Stop("admin", "", NOW), NOW).endswith("stopped by an administrator")


@pytest.mark.parametrize(
    "profile",
    [{"idle_timeout": -1}, {"idle_timeout": "60"}, {"gpu_shared": "yes"}],
)
def test_bad_profile_limits_are_refused(profile: dict[str, object]) -> None:
    with pytest.raises(Problem):
        dynconfig.parse({"profiles": {"p": profile}})
