"""Quiz service tests run on a real PostgreSQL database created for this test session.

The upstream is faked at the HTTP transport with respx (``upstream`` fixture) or is the real
jservice emulator over HTTP (``emulator`` fixture, see ``emulator.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.main import create_app
from quiz_service.models import Base, Question
from quiz_service.settings import QuizSettings
from quiz_service.tests.emulator import Emulator, start_emulator
from quiz_service.tests.support import ClientFactory, quiz_settings
from testkit.apps import running_app
from testkit.postgres import database_fixtures, truncate_all

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"


database_url, db_engine = database_fixtures("test_quiz", ALEMBIC_INI)


async def clean_database(engine: AsyncEngine) -> None:
    # TRUNCATE costs far more than this check, and most tests store nothing.
    async with engine.connect() as connection:
        stored = await connection.scalar(select(exists().select_from(Question)))
    if stored:
        await truncate_all(engine, Base.metadata)


@pytest.fixture
def settings(database_url: str) -> QuizSettings:
    return quiz_settings(database_url)


@pytest.fixture
async def app(settings: QuizSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def make_client(database_url: str, db_engine: AsyncEngine) -> AsyncIterator[ClientFactory]:
    """``async with make_client(**setting_overrides) as client`` runs an app with them."""

    @asynccontextmanager
    async def factory(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with running_app(create_app(quiz_settings(database_url, **overrides))) as client:
            yield client

    yield factory
    await clean_database(db_engine)


@pytest.fixture
async def client(app: FastAPI, db_engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app) as client:
        yield client
    await clean_database(db_engine)


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    """Every outgoing HTTP request must match a route; the ASGI test client is untouched."""
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[Emulator]:
    with start_emulator() as emulator:
        yield emulator


@pytest.fixture
async def emulator(emulator_process: Emulator) -> Emulator:
    """The shared emulator, reset to its startup config and empty history."""
    await emulator_process.reset()
    return emulator_process
