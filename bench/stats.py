"""Small statistics helpers: medians of repeats, latency percentiles."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np


def median(values: Sequence[float]) -> float:
    if not values:
        return float("nan")
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation; NaN when there is no value."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency_summary_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """count, p50, p90, p99 and max of a list of latencies in seconds, as milliseconds."""
    return {
        "count": len(latencies_s),
        "p50_ms": round(percentile(latencies_s, 50) * 1000, 2),
        "p90_ms": round(percentile(latencies_s, 90) * 1000, 2),
        "p99_ms": round(percentile(latencies_s, 99) * 1000, 2),
        "max_ms": round(max(latencies_s, default=float("nan")) * 1000, 2),
    }


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")
