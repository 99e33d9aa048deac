"""Upstream stand-ins for respx: jservice items of the real shape and a fake /api/random."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

UPSTREAM_URL = "http://jservice.test/api/random"
SAMPLE_PATH = Path(__file__).parents[3] / "shared/data/jservice_random_sample.json"


def load_sample() -> list[dict[str, Any]]:
    """70 items exactly as the real jservice returned them."""
    items: list[dict[str, Any]] = json.loads(SAMPLE_PATH.read_text())
    return items


_TEMPLATE = load_sample()[0]


def clue(clue_id: int, **overrides: Any) -> dict[str, Any]:
    """A jservice item of the real shape (the first sample item) with a new id and text."""
    item = copy.deepcopy(_TEMPLATE)
    item.update(id=clue_id, question=f"Question number {clue_id}", answer=f"answer {clue_id}")
    item.update(overrides)
    return item


def clues(ids: Iterable[int]) -> list[dict[str, Any]]:
    return [clue(clue_id) for clue_id in ids]


class FakeJService:
    """A respx side effect: fresh ids from a counter, or ids from a pool of ``pool_size``.

    Records every requested ``count`` and the most calls it saw in flight at once.
    """

    def __init__(self, *, pool_size: int | None = None, delay_s: float = 0.0) -> None:
        self.pool_size = pool_size
        self.delay_s = delay_s
        self.counts: list[int] = []
        self.served: list[list[int]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._next = itertools.count(1)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        count = int(request.url.params["count"])
        self.counts.append(count)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if self.pool_size is None:
            ids = [next(self._next) for _ in range(min(count, 100))]
        else:
            # The whole pool, in the same order every time: the worst case for repeats.
            ids = list(range(1, min(count, 100, self.pool_size) + 1))
        self.served.append(ids)
        return httpx.Response(200, json=clues(ids))
