"""Helpers the quiz tests share: settings for tests, and reading what was stored."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from quiz_service.models import Question
from quiz_service.settings import QuizSettings
from quiz_service.tests.fakes import UPSTREAM_URL

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def quiz_settings(database_url: str, **overrides: Any) -> QuizSettings:
    """Fast retries and short timeouts, so fault tests finish in well under a second."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "log_format": "text",
        "upstream_url": UPSTREAM_URL,
        "request_deadline_s": 5.0,
        "upstream_connect_timeout_s": 1.0,
        "upstream_read_timeout_s": 1.0,
        "upstream_backoff_base_s": 0.01,
        "upstream_backoff_max_s": 0.05,
        "opentdb_min_interval_s": 0.05,
    }
    values.update(overrides)
    return QuizSettings(**values)


async def stored_questions(engine: AsyncEngine) -> list[Question]:
    async with AsyncSession(engine) as session:
        return list((await session.scalars(select(Question).order_by(Question.id))).all())
