"""The ingestion behind ``POST /quiz``: fetch until N new questions are stored, within bounds.

Transactions. This service does not use the request's ``DbSession``; it opens its own short
transactions: one to read the newest question, then one per fetch round to insert what that
round brought, committed before the next round starts. Two reasons:

- what was stored stays stored: a request that ends in 502/503/504 after some rounds keeps
  (and reports) the rows of its completed rounds, each round being all-or-nothing. The
  request-scoped session would roll all of them back with the error;
- no transaction and no pooled connection is held while waiting on the upstream (up to the
  deadline), so 100 concurrent requests need a handful of connections, not 100.

Repositories still never commit; the ``sessionmaker.begin()`` blocks below are the commits.
Calls still in flight when the deadline passes are abandoned, and what they would have
brought is not stored: "stored" in a 504 counts only committed rounds.

"Before this request stored its own": the newest row is read, in a committed transaction,
before the first insert. Ids come from a sequence, so every row this request inserts later
has a larger id than the answer, and the answer can never be one of its own rows.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quiz_service.models import Question
from quiz_service.repository import QuestionRepository
from quiz_service.upstream import (
    Batch,
    FetchContext,
    QuestionProvider,
    UpstreamError,
    UpstreamExhausted,
    UpstreamQuestion,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from shared.errors import AppError, BadGateway, GatewayTimeout, ServiceUnavailable

log = logging.getLogger("quiz_service.ingestion")


@dataclass(frozen=True, slots=True)
class IngestionLimits:
    deadline_s: float
    max_rounds: int


@dataclass(slots=True)
class IngestionStats:
    """The fields of the one log line each ingestion writes."""

    provider: str
    requested: int
    stored: int = 0
    duplicates: int = 0
    """Valid items not stored because they were stored already (or repeated in the round)."""
    blank: int = 0
    invalid: int = 0
    upstream_calls: int = 0
    rounds: int = 0
    duration_ms: float = 0.0
    outcome: str = "ok"


@dataclass(frozen=True, slots=True)
class IngestionResult:
    previous: Question | None
    """The newest question stored before this request stored any; None on an empty table."""
    stats: IngestionStats


def split_count(total: int, per_call: int) -> list[int]:
    """``[100, 50]`` for 150: as few calls as the per-call cap allows."""
    full, rest = divmod(total, per_call)
    return [per_call] * full + ([rest] if rest else [])


class QuizService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        provider: QuestionProvider,
        limits: IngestionLimits,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._provider = provider
        self._limits = limits

    async def ingest(self, requested: int, *, request_id: str | None = None) -> IngestionResult:
        """Stores ``requested`` new questions and returns the one that was newest before.

        Raises ``ServiceUnavailable`` (upstream exhausted or rate limiting us past the
        deadline), ``GatewayTimeout`` (deadline, or upstream timeouts) or ``BadGateway``
        (upstream errors, malformed data); each carries ``requested`` and ``stored``.
        """
        started = time.perf_counter()
        stats = IngestionStats(provider=self._provider.source, requested=requested)
        try:
            async with self._sessionmaker.begin() as session:
                previous = await QuestionRepository(session).newest()
            if requested > 0:
                await self._fill(stats, request_id)
        except AppError as exc:
            stats.outcome = exc.slug
            raise
        except BaseException as exc:
            stats.outcome = type(exc).__name__
            raise
        finally:
            stats.duration_ms = round((time.perf_counter() - started) * 1000, 1)
            log.info("quiz ingestion", extra={"fields": asdict(stats)})
        return IngestionResult(previous=previous, stats=stats)

    async def _fill(self, stats: IngestionStats, request_id: str | None) -> None:
        loop = asyncio.get_running_loop()
        context = FetchContext(deadline=loop.time() + self._limits.deadline_s)
        try:
            while stats.stored < stats.requested:
                if stats.rounds >= self._limits.max_rounds:
                    raise _failure(
                        ServiceUnavailable,
                        f"the upstream supplied too few new questions in {stats.rounds} rounds",
                        stats,
                    )
                stats.rounds += 1
                batches, errors = await self._fetch_round(stats, context)
                await self._store(batches, stats, request_id)
                if errors:
                    raise _upstream_failure(errors[0], stats)
        finally:
            stats.upstream_calls = context.calls

    async def _fetch_round(
        self, stats: IngestionStats, context: FetchContext
    ) -> tuple[list[Batch], list[UpstreamError]]:
        counts = split_count(stats.requested - stats.stored, self._provider.max_per_call)
        try:
            # Only the upstream wait is under the deadline: cancelling an insert half-way
            # would make "stored" a guess.
            async with asyncio.timeout_at(context.deadline):
                outcomes = await asyncio.gather(
                    *(self._provider.fetch(count, context) for count in counts),
                    return_exceptions=True,
                )
        except TimeoutError:
            raise _failure(
                GatewayTimeout,
                f"the deadline of {self._limits.deadline_s:g} s passed while fetching",
                stats,
            ) from None
        batches: list[Batch] = []
        errors: list[UpstreamError] = []
        for outcome in outcomes:
            if isinstance(outcome, Batch):
                batches.append(outcome)
            elif isinstance(outcome, UpstreamError):
                errors.append(outcome)
            else:
                raise outcome  # a bug, not an upstream fault: let it be a logged 500
        return batches, errors

    async def _store(
        self, batches: Sequence[Batch], stats: IngestionStats, request_id: str | None
    ) -> None:
        candidates: dict[str, UpstreamQuestion] = {}
        for batch in batches:
            stats.blank += batch.blank
            stats.invalid += batch.invalid
            for question in batch.questions:
                # Concurrent calls of one round may return the same item; first one wins.
                candidates.setdefault(question.upstream_id, question)
            stats.duplicates += len(batch.questions)
        if not candidates:
            return
        async with self._sessionmaker.begin() as session:
            stored = await QuestionRepository(session).insert_new(
                self._provider.source,
                list(candidates.values()),
                saved_at=datetime.now(UTC),
                request_id=request_id,
            )
        stats.stored += len(stored)
        stats.duplicates -= len(stored)


def _failure(kind: type[AppError], reason: str, stats: IngestionStats, **extra: object) -> AppError:
    return kind(
        f"Stored {stats.stored} of {stats.requested} requested questions: {reason}.",
        requested=stats.requested,
        stored=stats.stored,
        **extra,
    )


def _upstream_failure(error: UpstreamError, stats: IngestionStats) -> AppError:
    reason = error.reason
    if isinstance(error, UpstreamRateLimited):
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
        return _failure(ServiceUnavailable, reason, stats, headers=headers)
    if isinstance(error, UpstreamExhausted):
        return _failure(ServiceUnavailable, reason, stats)
    if isinstance(error, UpstreamTimeout):
        return _failure(GatewayTimeout, reason, stats)
    return _failure(BadGateway, reason, stats)
