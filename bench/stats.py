"""Medians of repeats, percentiles of latencies, ratios that survive a zero."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

NAN = float("nan")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else NAN


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation; NaN when there is no value."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else NAN


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else NAN


def paired(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of per-repeat ratios: two things measured side by side, repeat by repeat."""
    return median([ratio(a, b) for a, b in zip(numerators, denominators, strict=True)])
