"""The quiz service's own Prometheus metrics, taken from each ingestion's stats.

``QuizService.ingest`` ends every ``POST /quiz`` with one ``IngestionStats`` (the same that
its "quiz ingestion" log line carries); ``observe`` turns it into counters and histograms,
so nothing else in the service counts anything. The HTTP and pool metrics are
``shared.metrics``'.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from quiz_service.service import IngestionStats

ROUND_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20)
UPSTREAM_OUTCOMES = (
    "ok",
    "5xx",
    "429",
    "timeout",
    "malformed",
    "unreachable",
    "rejected",
    "exhausted",
    "session_reset",
)
"""Every ``UpstreamError.outcome``, and "ok"."""


class QuizMetrics:
    """Series of the configured provider start at 0, so that the first fault after a start
    shows in ``rate()`` and ``increase()`` (a series born at 1 would hide it)."""

    def __init__(self, registry: CollectorRegistry, provider: str) -> None:
        self.upstream_calls = Counter(
            "quiz_upstream_calls",
            "Attempts of upstream calls by provider and outcome: ok, 5xx, 429, timeout, "
            "malformed, unreachable, rejected, exhausted, session_reset.",
            ["provider", "outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "quiz_upstream_retries",
            "Upstream calls tried again after a transient fault.",
            ["provider"],
            registry=registry,
        )
        self.duplicates = Counter(
            "quiz_duplicates",
            "Valid upstream questions not stored because they were stored already.",
            ["provider"],
            registry=registry,
        )
        self.stored = Counter(
            "quiz_questions_stored",
            "New questions stored.",
            ["provider"],
            registry=registry,
        )
        self.ingestions = Counter(
            "quiz_ingestions",
            "POST /quiz ingestions by outcome (ok, or the problem type of the failure).",
            ["provider", "outcome"],
            registry=registry,
        )
        self.deadline_hits = Counter(
            "quiz_deadline_hits",
            "Ingestions stopped by QUIZ_REQUEST_DEADLINE_S (answered 504).",
            ["provider"],
            registry=registry,
        )
        self.rounds = Histogram(
            "quiz_fetch_rounds",
            "Fetch rounds one POST /quiz needed (0 for questions_num 0).",
            ["provider"],
            buckets=ROUND_BUCKETS,
            registry=registry,
        )
        for outcome in UPSTREAM_OUTCOMES:
            self.upstream_calls.labels(provider, outcome)
        for counter in (self.retries, self.duplicates, self.stored, self.deadline_hits):
            counter.labels(provider)
        self.ingestions.labels(provider, "ok")

    def observe(self, stats: IngestionStats) -> None:
        provider = stats.provider
        for outcome, count in stats.upstream_outcomes.items():
            self.upstream_calls.labels(provider, outcome).inc(count)
        if stats.retries:
            self.retries.labels(provider).inc(stats.retries)
        if stats.duplicates:
            self.duplicates.labels(provider).inc(stats.duplicates)
        if stats.stored:
            self.stored.labels(provider).inc(stats.stored)
        if stats.deadline_hit:
            self.deadline_hits.labels(provider).inc()
        self.ingestions.labels(provider, stats.outcome).inc()
        self.rounds.labels(provider).observe(stats.rounds)
