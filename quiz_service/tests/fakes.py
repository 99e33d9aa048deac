"""Upstream stand-ins for respx: jservice items of the real shape and a fake /api/random."""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
from collections.abc import Iterable
from typing import Any

import httpx
import respx

UPSTREAM_URL = "http://jservice.test/api/random"


# One item of jservice's documented shape.
_TEMPLATE: dict[str, Any] = {
    "id": 1,
    "answer": "an answer",
    "question": "A question",
    "value": 200,
    "airdate": "1985-02-08T12:00:00.000Z",
    "created_at": "2014-02-11T22:47:18.829Z",
    "updated_at": "2014-02-11T22:47:18.829Z",
    "category_id": 2,
    "game_id": None,
    "invalid_count": None,
    "category": {
        "id": 2,
        "title": "a category",
        "created_at": "2014-02-11T22:47:18.706Z",
        "updated_at": "2014-02-11T22:47:18.706Z",
        "clues_count": 45,
    },
}


def clue(clue_id: int, **overrides: Any) -> dict[str, Any]:
    """A jservice item of the real shape with a new id and text."""
    item = copy.deepcopy(_TEMPLATE)
    item.update(id=clue_id, question=f"Question number {clue_id}", answer=f"answer {clue_id}")
    item.update(overrides)
    return item


def clues(ids: Iterable[int]) -> list[dict[str, Any]]:
    return [clue(clue_id) for clue_id in ids]


class FakeJService:
    """A respx side effect: fresh ids from a counter, or ids from a pool of ``pool_size``.

    With ``duplicate_rate`` (settable between requests), that share of every response
    (rounded) repeats ids served before, like the emulator's setting of the same name.
    Records every requested ``count`` and the most calls it saw in flight at once.

    ``hold_for_peers``: each call is answered only once no further call has arrived while it
    let the event loop run ``PEER_WAIT_TURNS`` turns, so the calls a round sends side by side
    (one ``gather``, no I/O before they reach this fake) are all in flight together, and
    ``max_in_flight`` counts them, without a guess of how long that takes. ``delay_s`` is
    upstream latency, for tests about deadlines and load.
    """

    PEER_WAIT_TURNS = 20

    def __init__(
        self,
        *,
        pool_size: int | None = None,
        delay_s: float = 0.0,
        duplicate_rate: float = 0.0,
        hold_for_peers: bool = False,
    ) -> None:
        self.pool_size = pool_size
        self.delay_s = delay_s
        self.hold_for_peers = hold_for_peers
        self.arrivals = 0
        self.duplicate_rate = duplicate_rate
        self.counts: list[int] = []
        self.served: list[list[int]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._next = itertools.count(1)
        self._served_ids: list[int] = []
        self._random = random.Random(7)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        count = int(request.url.params["count"])
        self.counts.append(count)
        self.arrivals += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold_for_peers:
                await self._until_no_new_peer()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if self.pool_size is None:
            n = min(count, 100)
            repeats = min(round(n * self.duplicate_rate), len(self._served_ids))
            ids = self._random.sample(self._served_ids, repeats)
            fresh = [next(self._next) for _ in range(n - repeats)]
            self._served_ids.extend(fresh)
            ids += fresh
            self._random.shuffle(ids)
        else:
            # The whole pool, in the same order every time: the worst case for repeats.
            ids = list(range(1, min(count, 100, self.pool_size) + 1))
        self.served.append(ids)
        return httpx.Response(200, json=clues(ids))

    async def _until_no_new_peer(self) -> None:
        seen = -1
        while seen != self.arrivals:
            seen = self.arrivals
            for _ in range(self.PEER_WAIT_TURNS):
                await asyncio.sleep(0)  # one turn of the event loop, no time


def fake_upstream(upstream: respx.MockRouter, **options: Any) -> FakeJService:
    """A ``FakeJService(**options)`` answering every call to ``UPSTREAM_URL``."""
    fake = FakeJService(**options)
    upstream.get(UPSTREAM_URL).mock(side_effect=fake)
    return fake
