"""Every measure, in the order a run takes them. Adding a measure: a module in
``bench/measures/`` with a ``MEASURE``, and one line here."""

from __future__ import annotations

from typing import Any

from bench.measures import (
    bank_search,
    cache_bound,
    conversion,
    downloads,
    http_api,
    memory,
    metrics_overhead,
    mp3_modes,
    parallel,
    quiz_ingestion,
    rate_limit,
    workers,
)
from bench.model import Measure

MEASURES: list[Measure[Any]] = [
    conversion.MEASURE,
    mp3_modes.MEASURE,
    memory.MEASURE,
    parallel.MEASURE,
    quiz_ingestion.MEASURE,
    cache_bound.MEASURE,  # in the background, beside the HTTP measures after it
    http_api.MEASURE,
    downloads.MEASURE,
    metrics_overhead.MEASURE,
    rate_limit.MEASURE,
    workers.MEASURE,
    bank_search.MEASURE,
]
BY_NAME = {measure.name: measure for measure in MEASURES}


def select(only: str | None) -> list[Measure[Any]]:
    """``--only audio.conversion,quiz``: exact names, or prefixes ending at a dot."""
    if not only:
        return list(MEASURES)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [
        w for w in wanted if not any(m.name == w or m.name.startswith(w + ".") for m in MEASURES)
    ]
    if unknown:
        raise ValueError(f"unknown measures: {', '.join(unknown)} (see --list)")
    return [m for m in MEASURES if any(m.name == w or m.name.startswith(w + ".") for w in wanted)]
