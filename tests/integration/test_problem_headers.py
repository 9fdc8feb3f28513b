"""Problem answers keep the headers of the HTTP error they stand for."""

from __future__ import annotations

from typing import Any


def test_a_405_says_which_methods_are_allowed(client: Any) -> None:
    wrong = client.delete("/api/v1/launch")
    assert wrong.status_code == 405 and wrong.mimetype == "application/problem+json"
    assert set(wrong.headers["Allow"].replace(" ", "").split(",")) == {"POST", "OPTIONS"}
    sessions = client.post("/api/v1/sessions/ann")
    assert sessions.status_code == 405
    assert {"GET", "DELETE"} <= set(sessions.headers["Allow"].replace(" ", "").split(","))
    assert wrong.headers["Cache-Control"] == "no-store"  # the problem's own headers stay


def test_a_problem_page_for_a_browser_keeps_them_too(client: Any) -> None:
    wrong = client.put("/api/v1/health", headers={"Accept": "text/html"})
    assert wrong.status_code == 405 and wrong.mimetype == "text/html"
    assert "GET" in wrong.headers["Allow"]
