"""The metrics' definitions against the Grafana dashboard (deploy/grafana/nextpyter.json)
and the exposition in one process; pure: no process, socket or Redis."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from nextpyter.pagletto import metrics as pagletto_metrics
from nextpyter.sidecar import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "nextpyter.json"


def _expressions() -> str:
    board = json.loads(DASHBOARD.read_text())
    return "\n".join(t["expr"] for panel in board["panels"] for t in panel["targets"])


def test_the_dashboard_shows_every_metric() -> None:
    shown = _expressions()
    missing = [n for n in (*metrics.names(), *pagletto_metrics.NAMES) if n not in shown]
    assert missing == [], f"add panels for {missing} to {DASHBOARD.name}"


def test_the_dashboard_names_no_metric_that_does_not_exist() -> None:
    import re

    known = set(metrics.names()) | set(pagletto_metrics.NAMES)
    used = set(re.findall(r"\b((?:nextpyter|pagletto)_[a-z_]+)", _expressions()))
    suffixes = ("_bucket", "_count", "_sum")
    unknown = {u for u in used if u not in known and not u.endswith(suffixes)}
    assert unknown == set()


def test_the_exposition_has_the_counts_and_the_live_states() -> None:
    metrics.count(metrics.LAUNCHES, "ready", "local")
    live = metrics.LiveCollector(
        lambda: [("default", "img:1", 1), ("default", "img:1", 1), ("gpu", "img:2", 2)],
        lambda: (3, 1, 12.5, 0),
    )
    body, content_type = metrics.exposition(live)
    assert content_type.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("nextpyter_launches_total", (("backend", "local"), ("outcome", "ready")))] >= 1
    assert samples[("nextpyter_servers_running", (("image", "img:1"), ("profile", "default")))] == 2
    assert samples[("nextpyter_gpus_assigned", ())] == 4
    assert samples[("nextpyter_pull_queue_depth", ())] == 3
    assert samples[("nextpyter_pull_queue_oldest_seconds", ())] == 12.5


def test_a_source_that_fails_is_left_out_and_said() -> None:
    def broken() -> list[tuple[str, str, int]]:
        raise OSError("engine away")

    body, _ = metrics.exposition(metrics.LiveCollector(broken, None))
    text = body.decode()
    assert 'nextpyter_scrape_errors{source="runtime"} 1.0' in text
    assert "nextpyter_servers_running{" not in text
