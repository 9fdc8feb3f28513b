"""How far an image's pull is, from the engine's stream of pull messages.

Pure: fed one decoded message at a time (:meth:`Progress.update`), it keeps bytes per
layer and over all, and a percentage for people that

- never goes back, whatever order the engine's messages come in;
- counts a layer's download as :data:`DOWNLOAD_SHARE` of it and its extraction as the
  rest, and layers already on the engine not at all;
- stays below 100 (:data:`MAX_UNFINISHED`): 100 is said only by the worker, once the
  image is on the engine.

:meth:`Progress.fields` is what the image's pull state hash holds of it (see
:mod:`nextpyter.pullqueue`); the worker publishes it at most every :data:`PUBLISH_EVERY`
seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["DOWNLOAD_SHARE", "MAX_UNFINISHED", "PUBLISH_EVERY", "Layer", "Progress"]

PUBLISH_EVERY = 0.25  # seconds between progress updates of one pull
DOWNLOAD_SHARE = 0.7  # of a layer's progress; extraction is the rest
MAX_UNFINISHED = 99.9  # percent: every layer extracted is not yet the image on the engine

# How far along a layer is, by the engine's word for it: a later word never goes back
# (the engine repeats "Downloading" after "Download complete" at times).
_RANK = {
    "Pulling fs layer": 0,
    "Waiting": 0,
    "Downloading": 1,
    "Retrying": 1,
    "Verifying Checksum": 2,
    "Download complete": 3,
    "Extracting": 4,
    "Pull complete": 5,
    "Already exists": 5,
}


@dataclass
class Layer:
    """One layer's pull, as the engine's messages for it tell it."""

    status: str = ""
    done: int = 0  # bytes downloaded
    total: int = 0  # compressed size, once the engine says it
    extracted: int = 0
    present: bool = False  # "Already exists": nothing to fetch

    def fraction(self) -> float:
        if self.present or self.status == "Pull complete":
            return 1.0
        if self.status in ("Download complete", "Verifying Checksum"):
            return DOWNLOAD_SHARE
        if not self.total:
            return 0.0
        if self.status == "Extracting":
            return DOWNLOAD_SHARE + (1 - DOWNLOAD_SHARE) * min(1.0, self.extracted / self.total)
        return DOWNLOAD_SHARE * min(1.0, self.done / self.total)


class Progress:
    """An image's pull, from the engine's stream of messages: bytes per layer and over
    all, and a percentage that never goes back (layers whose size is not known yet
    count as the average known one)."""

    def __init__(self) -> None:
        self.layers: dict[str, Layer] = {}
        self.percent = 0.0

    def update(self, message: dict[str, Any]) -> None:
        layer_id, status = message.get("id"), str(message.get("status", ""))
        if not layer_id or status.startswith(("Pulling from", "Digest:", "Status:")):
            return
        layer = self.layers.setdefault(str(layer_id), Layer())
        word = status.split(" in ")[0]  # "Retrying in 5 seconds"
        rank = _RANK.get(word, 0)
        if rank < _RANK.get(layer.status, 0):
            return
        layer.status = word
        detail = message.get("progressDetail") or {}
        current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
        if word == "Already exists":
            layer.present = True
        elif word == "Downloading":
            layer.total = total or layer.total
            layer.done = max(layer.done, current)
        elif word == "Extracting":
            layer.done = layer.total = max(layer.total, total)
            layer.extracted = max(layer.extracted, current)
        elif rank >= _RANK["Verifying Checksum"]:
            layer.done = layer.total
        self._recompute()

    def _recompute(self) -> None:
        fetched = [layer for layer in self.layers.values() if not layer.present]
        if not fetched:
            return
        known = [layer.total for layer in fetched if layer.total]
        average = sum(known) / len(known) if known else 1.0
        weights = [layer.total or average for layer in fetched]
        done = sum(w * layer.fraction() for w, layer in zip(weights, fetched, strict=True))
        self.percent = max(self.percent, min(MAX_UNFINISHED, 100.0 * done / sum(weights)))

    @property
    def done(self) -> int:
        return sum(layer.done for layer in self.layers.values() if not layer.present)

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers.values() if not layer.present)

    def fields(self) -> dict[str, str]:
        layers = {
            key: {
                "status": layer.status,
                "done": layer.done,
                "total": layer.total,
                "extracted": layer.extracted,
            }
            for key, layer in self.layers.items()
        }
        return {
            "done": str(self.done),
            "total": str(self.total),
            "percent": f"{self.percent:.1f}",
            "layers": json.dumps(layers, separators=(",", ":")),
        }
