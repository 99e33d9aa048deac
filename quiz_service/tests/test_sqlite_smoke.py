"""The embedded SQLite default: the real migrations and one ingestion, no PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import respx
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from quiz_service.main import create_app
from quiz_service.settings import QuizSettings
from quiz_service.tests.fakes import UPSTREAM_URL, clues
from shared.migrations import downgrade_database, upgrade_database
from testkit.apps import running_app
from testkit.jservice import jservice_items

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"

pytestmark = pytest.mark.sqlite


async def test_post_quiz_on_sqlite(tmp_path: Path, upstream: respx.MockRouter) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quiz.db'}"
    await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
    sample = [item for item in jservice_items() if item["question"]][:3]
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(200, json=sample),
        httpx.Response(200, json=[*sample[:1], *clues([900001])]),  # one repeat
        httpx.Response(200, json=clues([900002])),
    ]
    settings = QuizSettings(database_url=url, upstream_url=UPSTREAM_URL, log_format="text")
    async with running_app(create_app(settings)) as client:
        assert (await client.post("/quiz", json={"questions_num": 3})).json() == {}
        answer = (await client.post("/quiz", json={"questions_num": 2})).json()
        listing = (await client.get("/quiz/questions", params={"limit": 10})).json()
        detail = (await client.get(f"/quiz/questions/{answer['id']}")).json()
    newest_of_first = max(sample, key=lambda item: item["id"])
    assert answer["upstream_id"] == str(newest_of_first["id"])
    # Timestamps come back timezone-aware even though SQLite stores them naive.
    assert answer["created_at"].endswith("Z") or answer["created_at"].endswith("+00:00")
    assert answer["saved_at"].endswith("Z") or answer["saved_at"].endswith("+00:00")
    assert len(listing["items"]) == 5
    assert [item["upstream_id"] for item in listing["items"]][:2] == ["900002", "900001"]
    assert detail["raw"] == newest_of_first
    assert route.call_count == 3


async def test_over_fetching_round_on_sqlite(tmp_path: Path, upstream: respx.MockRouter) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quiz.db'}"
    await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(200, json=clues([1, 2])),
        httpx.Response(200, json=clues([1, 2])),  # only repeats: the next round over-fetches
        httpx.Response(200, json=clues(range(1, 30))),
    ]
    settings = QuizSettings(database_url=url, upstream_url=UPSTREAM_URL, log_format="text")
    async with running_app(create_app(settings)) as client:
        assert (await client.post("/quiz", json={"questions_num": 2})).status_code == 200
        assert (await client.post("/quiz", json={"questions_num": 2})).status_code == 200
        listing = (await client.get("/quiz/questions", params={"limit": 10})).json()
    # 10 asked for; 1 and 2 are stored already, 3 and 4 are stored, 5 to 10 are discarded.
    assert [call.request.url.params["count"] for call in route.calls] == ["2", "2", "10"]
    assert [item["upstream_id"] for item in listing["items"]] == ["4", "3", "2", "1"]


async def test_migrations_downgrade_and_upgrade_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quiz.db'}"
    await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
    await asyncio.to_thread(downgrade_database, ALEMBIC_INI, url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "questions" not in tables
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
