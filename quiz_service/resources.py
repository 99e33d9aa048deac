"""What the quiz service's lifespan opens: the upstream client and the ingestion service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from quiz_service.bank_service import BankService
from quiz_service.metrics import QuizMetrics
from quiz_service.service import IngestionLimits, QuizService
from quiz_service.settings import QuizSettings
from quiz_service.upstream import create_http_client, create_provider
from shared.db import Database


@dataclass(frozen=True, slots=True, kw_only=True)
class QuizResources:
    """``app.state.resources`` of the quiz service: what its routes reach."""

    settings: QuizSettings
    database: Database
    quiz: QuizService
    bank: BankService
    recount: asyncio.Task[None]
    """The start's recount of the categories (``QuizService.recount_categories``)."""


@asynccontextmanager
async def open_resources(
    settings: QuizSettings, metrics: QuizMetrics, database: Database
) -> AsyncIterator[QuizResources]:
    # One client for the process: its connection pool is what makes upstream calls cheap.
    async with create_http_client(settings) as client:
        limits = IngestionLimits(
            deadline_s=settings.request_deadline_s,
            max_rounds=settings.max_fetch_rounds,
            max_calls_per_round=settings.max_calls_per_round,
        )
        provider = create_provider(settings, client)
        quiz = QuizService(database, provider, limits, observe=metrics.observe)
        bank = BankService(database)
        # In the background: the service starts (and answers /health) without its database.
        recount = asyncio.create_task(quiz.recount_categories(), name="recount-categories")
        try:
            yield QuizResources(
                settings=settings, database=database, quiz=quiz, bank=bank, recount=recount
            )
        finally:
            # Awaited, not cancelled: it ends by itself within the database's connect and
            # statement timeouts, and asyncpg leaves an unretrieved error behind when a
            # connection attempt is cancelled half-way.
            await recount
