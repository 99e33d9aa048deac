"""What one emulator process remembers between requests."""

from __future__ import annotations

from collections import Counter
from random import Random

from pydantic import BaseModel, Field

from jservice_emulator.sampling import ServedIds
from jservice_emulator.settings import ConfigUpdate, EmulatorSettings


class Stats(BaseModel):
    """Counters since start or the last reset.

    ``calls`` and ``status_counts`` cover every ``/api/random`` and ``/api/clues`` request;
    ``items_served`` and ``unique_ids_served`` only items of well-formed responses, the ones
    a consumer can keep.
    """

    calls: int = 0
    items_served: int = 0
    unique_ids_served: int = 0
    status_counts: dict[str, int] = Field(default_factory=dict)


class EmulatorState:
    """Live settings, the request RNG, the served-id memory and the counters."""

    def __init__(self, startup: EmulatorSettings) -> None:
        self.startup = startup
        self.reset()

    def reset(self) -> None:
        self.settings = self.startup
        # Seeded so that a test replaying the same requests sees the same ids and faults.
        self.rng = Random(f"jservice-emulator:{self.startup.seed}:requests")
        self.served = ServedIds()
        self._calls = 0
        self._items_served = 0
        self._status_counts: Counter[int] = Counter()

    def update(self, patch: ConfigUpdate) -> EmulatorSettings:
        self.settings = patch.apply_to(self.settings)
        return self.settings

    def record(self, status: int, served_ids: list[int]) -> None:
        self._calls += 1
        self._status_counts[status] += 1
        self._items_served += len(served_ids)
        self.served.add(served_ids)

    def stats(self) -> Stats:
        return Stats(
            calls=self._calls,
            items_served=self._items_served,
            unique_ids_served=len(self.served),
            status_counts={str(status): n for status, n in sorted(self._status_counts.items())},
        )
