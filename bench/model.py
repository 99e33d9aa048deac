"""The typed shape of a benchmark: a measure, what it returns, and what the report shows.

A measure's ``run`` returns its own dataclass of raw figures (every repeat); ``summarise``
turns that into a ``Section``: summary ``Row``s (each with an optional ``Target``), detail
tables and chart lines. The raw dataclasses are what the results file stores, so a report can
always be regenerated from a recorded run (``python -m bench --from-results FILE``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from bench.runner import Bench

D = TypeVar("D")

_OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "<=": (operator.le, "≤"),
    ">=": (operator.ge, "≥"),
    "<": (operator.lt, "<"),
    "==": (operator.eq, "="),
}


@dataclass(frozen=True)
class Target:
    """A threshold: ``Target("<=", 1.05, "x")`` reads "≤ 1.05x"."""

    op: str
    bound: float
    unit: str = ""

    def met(self, value: float) -> bool:
        return _OPS[self.op][0](value, self.bound)

    def __str__(self) -> str:
        return f"{_OPS[self.op][1]} {self.bound:g}{self.unit}"


@dataclass(frozen=True)
class Row:
    """One line of the summary table. ``value`` is what the target is checked against
    (None: could not be measured, which misses any target); ``shown`` is what a reader sees."""

    key: str
    what: str
    value: float | None
    shown: str
    target: Target | None = None

    @property
    def met(self) -> bool | None:
        """None for a reported figure without a target."""
        if self.target is None:
            return None
        return self.value is not None and not math.isnan(self.value) and self.target.met(self.value)


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Line:
    label: str
    x: list[float]
    y: list[float]
    style: str = "o-"


@dataclass(frozen=True)
class Panel:
    """One chart of the results figure."""

    title: str
    xlabel: str
    ylabel: str
    lines: list[Line]
    log_y: bool = False


def method(doc: str | None) -> str:
    """A measure module's docstring minus its first paragraph: how it measures, for the report."""
    return " ".join((doc or "").split("\n\n", 1)[-1].replace("``", "`").split())


@dataclass
class Section:
    rows: list[Row]
    method: str = ""  # how it was measured, one paragraph
    tables: list[Table] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)


@dataclass(frozen=True)
class Profile(Generic[D]):
    """What to profile (py-spy) when one of a measure's targets is missed: a short
    workload like the measured one, on one service process ("audio-0", "quiz-0")."""

    service: str
    workload: Callable[[Bench, D], None]


@dataclass(frozen=True)
class Measure(Generic[D]):
    name: str  # "audio.conversion": what --only selects
    title: str
    data: type[D]  # the dataclass ``run`` returns, stored in the results file
    run: Callable[[Bench], D]
    summarise: Callable[[D], Section]
    tools: tuple[str, ...] = ()  # external commands it needs (bench.tools)
    background: bool = False  # runs in a thread beside the measures after it (light load)
    profile: Profile[D] | None = None


class Skipped(Exception):
    """Raised by a measure that does not run at this scale (e.g. a 60 s wait in --smoke)."""


@dataclass(frozen=True)
class Scale:
    """Sizes and repeats of a run: the full run, ``--quick`` and ``--smoke``."""

    repeats: int = 3
    long_repeats: int = 2  # the 10- and 60-minute memory uploads
    short_s: float = 60.0
    long_s: float = 600.0
    huge_s: float = 3600.0
    levels: tuple[int, ...] = (1, 2, 4)
    uploads_per_client: int = 2
    wrk_s: float = 3.0
    connections: tuple[int, ...] = (16, 64)
    cache_check: bool = True
    bank_rows: int = 1_000_000  # bank.search: stored questions
    bank_runs: int = 300  # bank.search: timed queries of each kind


SCALES = {
    "full": Scale(),
    "quick": Scale(1, 1, 10.0, 60.0, 120.0, (1, 2), 1, 2.0, (32,), bank_runs=100),
    "smoke": Scale(
        1, 1, 2.0, 3.0, 4.0, (1, 2), 1, 1.0, (8,), cache_check=False, bank_rows=20_000, bank_runs=20
    ),
}


@dataclass
class Outcome:
    """One measure's run: its raw data (as JSON in the file), or why there is none."""

    name: str
    data: Any
    error: str | None = None
    seconds: float = 0.0
    other_cores: float | None = None  # CPU used outside the system under test meanwhile
    profile: list[str] = field(default_factory=list)


@dataclass
class RunRecord:
    command: str
    started_at: str
    duration_s: float
    mode: str
    note: str
    scale: Scale
    environment: dict[str, str]
    outcomes: list[Outcome]
