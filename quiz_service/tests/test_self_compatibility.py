"""A quiz service ingesting from another quiz service's /quiz/api/random, over real HTTP.

The first instance stores clues from the jservice emulator (quirks on) and serves them under
/quiz/api/random; the second uses that URL as its QUIZ_UPSTREAM_URL, with no change to its
jservice provider. What the quiz service promises of any upstream still holds: only new
questions are stored, each once; repeats (the first instance's random answers repeat across
calls) are replaced by new ones; quirky text is cleaned the same; an exhausted upstream is a
503 that reports what was stored; an unreachable one a 5xx problem.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devstack.ports import LOOPBACK, free_port
from quiz_service.main import create_app
from quiz_service.models import Base
from quiz_service.tests.emulator import Emulator
from quiz_service.tests.support import quiz_settings, stored_questions
from shared.db import async_url
from shared.migrations import upgrade_database
from testkit.apps import running_app, served_app
from testkit.jservice_contract import clue_problems
from testkit.postgres import temporary_database, truncate_all
from testkit.problems import assert_problem

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"
QUIRKS = ["html_answer", "escaped_quote", "ampersand", "mojibake", "null_value", "media_clue"]
FIRST_STORES = 150


@pytest.fixture
def first_url(database_url: str, emulator: Emulator) -> Iterator[str]:
    """The first quiz service's /quiz/api/random, served by uvicorn on a loopback port."""
    settings = quiz_settings(
        database_url, upstream_url=emulator.random_url, max_questions_num=FIRST_STORES
    )
    with served_app(create_app(settings)) as (host, port):
        yield f"http://{host}:{port}"


@pytest.fixture
async def filled_first(
    first_url: str, emulator: Emulator, db_engine: AsyncEngine
) -> AsyncIterator[str]:
    """The first instance with FIRST_STORES questions, a third of them quirky."""
    await emulator.configure(quirk_rate=0.35, quirk_kinds=QUIRKS)
    async with httpx.AsyncClient(base_url=first_url, timeout=30) as client:
        response = await client.post("/quiz", json={"questions_num": FIRST_STORES})
        assert response.status_code == 200, response.text
    yield f"{first_url}/quiz/api/random"
    await truncate_all(db_engine, Base.metadata)


@pytest.fixture
async def second_database() -> AsyncIterator[tuple[str, AsyncEngine]]:
    async with temporary_database("test_quiz_second") as url:
        await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
        engine = create_async_engine(async_url(url))
        try:
            yield url, engine
        finally:
            await engine.dispose()


async def test_second_instance_stores_each_question_of_the_first_once(
    filled_first: str, db_engine: AsyncEngine, second_database: tuple[str, AsyncEngine]
) -> None:
    url, engine = second_database
    # The first instance's answers are random draws of 150 stored rows: repeats across calls
    # are certain, so the second instance has to replace them with new ones.
    settings = quiz_settings(url, upstream_url=filled_first, max_questions_num=FIRST_STORES)
    async with running_app(create_app(settings)) as client:
        for n in (40, 60):
            response = await client.post("/quiz", json={"questions_num": n})
            assert response.status_code == 200, response.text
        # One more than the first instance has left: it cannot be done, whatever the draws.
        exhausted = await client.post("/quiz", json={"questions_num": FIRST_STORES - 99})
        served = (await client.get("/quiz/api/random", params={"count": 100})).json()

    firsts = {str(row.id): row for row in await stored_questions(db_engine)}
    seconds = await stored_questions(engine)
    body = assert_problem(exhausted, 503, requested=FIRST_STORES - 99, stored=len(seconds) - 100)
    assert "too few new questions" in body["detail"]
    assert len(seconds) == len({row.upstream_id for row in seconds})
    # The draws may or may not find all of the last 50 within the rounds: never more.
    assert 100 <= len(seconds) <= FIRST_STORES
    assert {row.upstream_id for row in seconds} <= set(firsts)
    for row in seconds:
        original = firsts[row.upstream_id]
        # Raw text went through unchanged, and the cleaning gave the same result.
        assert (row.raw_question, row.raw_answer) == (original.raw_question, original.raw_answer)
        assert (row.question, row.answer) == (original.question, original.answer)
        assert (row.value, row.airdate, row.category) == (
            original.value,
            original.airdate,
            original.category,
        )
        assert row.raw["answer"] == original.raw["answer"]  # HTML, \\' and mojibake kept
    assert any("<i>" in row.raw_answer for row in seconds)
    assert any(row.value is None for row in seconds)
    # ...and the second serves them in the same shape again.
    assert served
    assert [clue_problems(item) for item in served] == [[]] * len(served)


async def test_an_unreachable_first_instance_is_a_problem(
    second_database: tuple[str, AsyncEngine],
) -> None:
    url, engine = second_database
    # A free port: nothing listens there, as when the first instance is down.
    settings = quiz_settings(url, upstream_url=f"http://{LOOPBACK}:{free_port()}/quiz/api/random")
    async with running_app(create_app(settings)) as client:
        response = await client.post("/quiz", json={"questions_num": 5})
    assert_problem(response, (502, 503, 504), requested=5, stored=0)
    assert await stored_questions(engine) == []
