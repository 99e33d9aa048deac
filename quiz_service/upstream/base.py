"""The provider protocol and the normalised question every provider returns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class UpstreamQuestion:
    """One usable upstream item, already cleaned; ``raw`` is the item exactly as received."""

    upstream_id: str
    question: str
    answer: str
    raw_question: str
    raw_answer: str
    created_at: datetime
    category: str | None
    value: int | None
    airdate: date | None
    raw: dict[str, Any]


@dataclass(slots=True)
class Batch:
    """The usable items of one upstream call and how many items were left out."""

    questions: list[UpstreamQuestion] = field(default_factory=list)
    blank: int = 0
    """Items with an empty question or answer: never stored, never counted toward N."""
    invalid: int = 0
    """Items with missing fields or wrong types, dropped one by one."""

    @property
    def received(self) -> int:
        """Every item the call returned (and parsed), usable or not."""
        return len(self.questions) + self.blank + self.invalid


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestionFilter:
    """What ``POST /quiz`` may ask the upstream to narrow its questions to; ``None`` means
    no filter. Which ones a provider honours is its ``supported_filters``."""

    category: int | None = None
    """The upstream's category id (opentdb: 9..32; jservice: its category ids)."""
    difficulty: str | None = None
    """opentdb only: easy, medium or hard."""
    value: int | None = None
    """jservice only: the clue's dollar value."""

    def asked(self) -> dict[str, int | str]:
        """The filters that are set, by name (also the upstream's parameter names)."""
        values = {"category": self.category, "difficulty": self.difficulty, "value": self.value}
        return {name: value for name, value in values.items() if value is not None}


@dataclass(slots=True)
class FetchContext:
    """Shared by the calls of one ingestion: its deadline and how many requests it sent."""

    deadline: float
    """In ``loop.time()`` units; a retry whose wait would end after it is not attempted."""
    filter: IngestionFilter = field(default_factory=IngestionFilter)
    next_offset: int = 0
    """A filtered jservice ingestion pages through ``/api/clues``: the next call's offset."""
    calls: int = 0
    """HTTP requests sent to the upstream, retries and token requests included."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """Attempts of provider calls by how they ended: "ok" or an ``UpstreamError.outcome``."""
    retries: int = 0
    """Attempts made again after a transient fault."""


class QuestionProvider(Protocol):
    @property
    def source(self) -> str:
        """Stored with every question; (source, upstream_id) is unique."""
        ...

    @property
    def max_per_call(self) -> int:
        """The most items one call can return; the ingestion splits larger needs."""
        ...

    @property
    def supported_filters(self) -> frozenset[str]:
        """The ``IngestionFilter`` fields this provider can honour (the others are a 422)."""
        ...

    @property
    def parallel_calls(self) -> bool:
        """Whether concurrent calls really run side by side. False when the provider spaces
        its calls out (opentdb's rate limit): every extra call would cost a whole interval,
        so the ingestion over-fetches only within the calls a round needs anyway."""
        ...

    async def fetch(self, count: int, context: FetchContext) -> Batch:
        """Up to ``count`` distinct questions; raises ``UpstreamError`` once retries are spent."""
        ...
