"""The ingestion behind ``POST /quiz``: fetch until N new questions are stored, within bounds.

Transactions. Every read and write goes through ``Database.unit_of_work()`` (``shared.db``),
the one commit helper of both services. ``ingest`` opens several short ones: one to read the
newest question (run while the first round's calls are in flight), then one per fetch round
to store what that round brought, committed before the next round starts. Two reasons:

- what was stored stays stored: a request that ends in 502/503/504 after some rounds keeps
  (and reports) the rows of its completed rounds, each round being all-or-nothing. The
  request-scoped session would roll all of them back with the error;
- no transaction and no pooled connection is held for the length of an upstream wait (up to
  the deadline), so 100 concurrent requests need a handful of connections, not 100.

Repositories never commit; the ``unit_of_work()`` blocks below are the commits.
Calls still in flight when the deadline passes are abandoned, and what they would have
brought is not stored: "stored" in a 504 counts only committed rounds.

"Before this request stored its own": the newest row is read, in a committed transaction,
before the first insert (which waits for that read). Ids come from a sequence, so every row
this request inserts later has a larger id than the answer, and the answer can never be one
of its own rows.

Rounds. The first round asks for exactly the N questions requested (one call of ``count=N``
when nothing repeats). Every later round over-fetches: it divides what is still missing by
the share of new items this request has seen so far, plus a safety margin
(``next_fetch_size``), in calls of at most the provider's cap, at most
``max_calls_per_round`` of them side by side. Asking for only what is missing would shrink
the gap geometrically (30 % repeats: 100, 30, 9, 3, 1 … missing, one round each); sized by
the observed share, a round usually closes it. A round never stores more than is missing:
new questions beyond that are discarded (``discarded`` in the log line), and fetched again
by a later request if the upstream serves them again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from quiz_service.models import Question
from quiz_service.repository import QuestionRepository
from quiz_service.upstream import (
    Batch,
    FetchContext,
    IngestionFilter,
    QuestionProvider,
    UpstreamError,
    UpstreamExhausted,
    UpstreamQuestion,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from shared.db import Database
from shared.errors import (
    AppError,
    BadGateway,
    DatabaseUnavailable,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
)

log = logging.getLogger("quiz_service.ingestion")


OVERFETCH_SAFETY = 1.25
"""Later rounds ask for a quarter more than the observed share of new items says is needed:
that share varies from call to call, and a round too short costs a whole extra round."""


@dataclass(frozen=True, slots=True)
class IngestionLimits:
    deadline_s: float
    max_rounds: int
    max_calls_per_round: int
    """Upstream calls one over-fetching round may send side by side."""


@dataclass(slots=True)
class IngestionStats:
    """The fields of the one log line each ingestion writes."""

    provider: str
    requested: int
    stored: int = 0
    duplicates: int = 0
    """Valid items not stored because they were stored already (or repeated in the round)."""
    discarded: int = 0
    """New questions not stored because their round already had as many as were missing."""
    blank: int = 0
    invalid: int = 0
    fetched: int = 0
    """Items the upstream returned: stored + duplicates + discarded + blank + invalid."""
    upstream_calls: int = 0
    upstream_outcomes: dict[str, int] = field(default_factory=dict)
    """Attempts of provider calls by outcome ("ok", "5xx", "429", "timeout", ...)."""
    retries: int = 0
    rounds: int = 0
    deadline_hit: bool = False
    """QUIZ_REQUEST_DEADLINE_S passed while the upstream was being waited on."""
    duration_ms: float = 0.0
    outcome: str = "ok"


IngestionObserver = Callable[[IngestionStats], None]
"""Called with the stats of every ingestion, as it ends (the metrics: ``quiz_service.metrics``)."""


def _ignore(_stats: IngestionStats) -> None:
    pass


@dataclass(frozen=True, slots=True)
class QuestionsPage:
    questions: list[Question]
    """Newest first."""
    next_before_id: int | None
    """The ``before_id`` of the next page; None on the last one."""


@dataclass(frozen=True, slots=True)
class IngestionResult:
    previous: Question | None
    """The newest question stored before this request stored any; None on an empty table."""
    stats: IngestionStats


def next_fetch_size(missing: int, fetched: int, fresh: int, *, limit: int) -> int:
    """How many items the next round asks for, to store ``missing`` more new questions.

    ``fetched`` items came back in this ingestion's earlier rounds, ``fresh`` of them new
    (usable and not stored yet). Before any came back the answer is ``missing`` itself, so a
    request that meets no repeats makes exactly one round. After that: ``missing`` divided
    by the share of new items, times ``OVERFETCH_SAFETY``, rounded up, at most ``limit`` but
    never less than ``missing``. The share is smoothed, (fresh + 1) / (fetched + 2), so that
    a few items cannot make it 0 (nothing new yet: ask for the limit, not infinity) or 1.
    """
    if fetched == 0:
        return missing
    fresh_share = (fresh + 1) / (fetched + 2)
    wanted = math.ceil(missing / fresh_share * OVERFETCH_SAFETY)
    return max(missing, min(wanted, limit))


def split_count(total: int, per_call: int) -> list[int]:
    """``[100, 50]`` for 150: as few calls as the per-call cap allows."""
    full, rest = divmod(total, per_call)
    return [per_call] * full + ([rest] if rest else [])


class QuizService:
    def __init__(
        self,
        database: Database,
        provider: QuestionProvider,
        limits: IngestionLimits,
        observe: IngestionObserver = _ignore,
    ) -> None:
        self._database = database
        self._provider = provider
        self._limits = limits
        self._observe = observe

    async def recount_categories(self) -> None:
        """Corrects every category's ``clues_count`` that a crash left behind (at start).
        A failure is only logged: the next store of each category recounts it anyway."""
        try:
            async with self._database.unit_of_work() as session:
                await QuestionRepository(session).recount_clues(None, now=datetime.now(UTC))
        except (DatabaseUnavailable, SQLAlchemyError) as exc:
            log.warning("categories not recounted at start: %s", type(exc).__name__)

    async def question(self, question_id: int) -> Question:
        async with self._database.unit_of_work() as session:
            question = await QuestionRepository(session).get(question_id)
        if question is None:
            raise NotFound(f"No question with id {question_id}.")
        return question

    @property
    def supported_filters(self) -> frozenset[str]:
        """The ingestion filters the configured provider can honour."""
        return self._provider.supported_filters

    async def ingest(
        self,
        requested: int,
        *,
        request_id: str | None = None,
        ingestion_filter: IngestionFilter | None = None,
    ) -> IngestionResult:
        """Stores ``requested`` new questions and returns the one that was newest before.

        ``ingestion_filter`` narrows what the upstream is asked for; the caller has checked
        it against ``supported_filters``.

        Raises ``ServiceUnavailable`` (upstream exhausted or rate limiting us past the
        deadline), ``GatewayTimeout`` (deadline, or upstream timeouts) or ``BadGateway``
        (upstream errors, malformed data); each carries ``requested`` and ``stored``.
        """
        started = time.perf_counter()
        stats = IngestionStats(provider=self._provider.source, requested=requested)
        try:
            if requested > 0:
                previous = await self._fill(stats, request_id, ingestion_filter)
            else:
                previous = await self._newest()
        except AppError as exc:
            stats.outcome = exc.problem.slug
            raise
        except BaseException as exc:
            stats.outcome = type(exc).__name__
            raise
        finally:
            stats.duration_ms = round((time.perf_counter() - started) * 1000, 1)
            log.info("quiz ingestion", extra={"fields": asdict(stats)})
            self._observe(stats)
        return IngestionResult(previous=previous, stats=stats)

    async def _newest(self) -> Question | None:
        async with self._database.unit_of_work() as session:
            return await QuestionRepository(session).newest()

    async def _fill(
        self,
        stats: IngestionStats,
        request_id: str | None,
        ingestion_filter: IngestionFilter | None,
    ) -> Question | None:
        """Fetch rounds until ``stats.requested`` new questions are stored; returns the newest
        question stored before the first of them.

        That question is read while the first round waits on the upstream (it only has to
        be read before this request's first insert, and every insert waits for it): its
        query and transaction cost no time of their own.
        """
        loop = asyncio.get_running_loop()
        context = FetchContext(
            deadline=loop.time() + self._limits.deadline_s,
            filter=ingestion_filter or IngestionFilter(),
        )
        newest = asyncio.create_task(self._newest())
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
                await newest  # read before this request's first insert (raises if it failed)
                await self._store(batches, stats, request_id)
                if errors and stats.stored < stats.requested:
                    raise _upstream_failure(errors[0], stats)
                for error in errors:
                    # An over-fetching round may get what it needs from its other calls.
                    log.warning(
                        "upstream call failed, its round stored enough without it",
                        extra={"fields": {"error": type(error).__name__, "reason": error.reason}},
                    )
            return newest.result()
        finally:
            stats.upstream_calls = context.calls
            stats.upstream_outcomes = dict(context.outcomes)
            stats.retries = context.retries
            if not newest.done():  # a failure came first: leave nothing running
                newest.cancel()
                await asyncio.wait([newest])
            if not newest.cancelled():
                newest.exception()  # seen, so no "exception was never retrieved" warning

    def _round_size(self, stats: IngestionStats) -> int:
        missing = stats.requested - stats.stored
        per_call = self._provider.max_per_call
        # A provider that spaces its calls out gets fuller calls, never more of them.
        calls = self._limits.max_calls_per_round if self._provider.parallel_calls else 1
        limit = max(math.ceil(missing / per_call), calls) * per_call
        fresh = stats.stored + stats.discarded
        return next_fetch_size(missing, stats.fetched, fresh, limit=limit)

    async def _fetch_round(
        self, stats: IngestionStats, context: FetchContext
    ) -> tuple[list[Batch], list[UpstreamError]]:
        counts = split_count(self._round_size(stats), self._provider.max_per_call)
        try:
            # Only the upstream wait is under the deadline: cancelling an insert half-way
            # would make "stored" a guess.
            async with asyncio.timeout_at(context.deadline):
                outcomes = await asyncio.gather(
                    *(self._provider.fetch(count, context) for count in counts),
                    return_exceptions=True,
                )
        except TimeoutError:
            stats.deadline_hit = True
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
        """Stores at most the missing number of this round's new questions, in one transaction.

        Repeats within the round are dropped (first one wins). No more candidates than are
        missing (the first round, and every round without repeats): all go to the insert,
        whose ``ON CONFLICT`` skips those stored already; one statement. More: one SELECT
        finds those stored already, the first ``missing`` of the others (in the upstream's
        order) are inserted, and the rest are discarded. ``ON CONFLICT`` still settles races
        with concurrent requests: a lost race counts as a duplicate, and the gap it leaves
        is the next round's.
        """
        missing = stats.requested - stats.stored
        candidates: dict[str, UpstreamQuestion] = {}
        valid = 0
        for batch in batches:
            stats.fetched += batch.received
            stats.blank += batch.blank
            stats.invalid += batch.invalid
            valid += len(batch.questions)
            for question in batch.questions:
                # Concurrent calls of one round may return the same item; first one wins.
                candidates.setdefault(question.upstream_id, question)
        if not candidates:
            return
        new = list(candidates.values())
        async with self._database.unit_of_work() as session:
            repository = QuestionRepository(session)
            if len(new) > missing:
                known = await repository.stored_upstream_ids(
                    self._provider.source, list(candidates)
                )
                new = [question for question in new if question.upstream_id not in known]
            saved_at = datetime.now(UTC)
            by_category = await repository.insert_new(
                self._provider.source, new[:missing], saved_at=saved_at, request_id=request_id
            )
        inserted = by_category.total()
        discarded = max(0, len(new) - missing)
        stats.stored += inserted
        stats.discarded += discarded
        stats.duplicates += valid - inserted - discarded
        if inserted:
            # A transaction of its own: the category rows are the hottest rows there are
            # (every ingestion of a category updates its row), and a lock on them held until
            # the questions' commit would queue every concurrent store behind it.
            async with self._database.unit_of_work() as session:
                await QuestionRepository(session).recount_clues(by_category, now=saved_at)


def _failure(
    kind: type[AppError],
    reason: str,
    stats: IngestionStats,
    *,
    headers: dict[str, str] | None = None,
) -> AppError:
    return kind(
        f"Stored {stats.stored} of {stats.requested} requested questions: {reason}.",
        headers=headers,
        requested=stats.requested,
        stored=stats.stored,
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
