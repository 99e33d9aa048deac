"""GET /quiz/questions searched and filtered: one query set on PostgreSQL (tsvector + GIN)
and on SQLite (FTS5), each checked against the same reference and against each other."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from quiz_service.main import create_app
from quiz_service.tests.bank_data import bank_items, store_items
from quiz_service.tests.support import ClientFactory, quiz_settings
from shared.migrations import upgrade_database
from testkit.apps import running_app
from testkit.problems import assert_problem

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"

QUERIES: list[dict[str, Any]] = [
    {"q": "amber"},
    {"q": "AMBER"},  # case-insensitive
    {"q": "amber basalt"},  # every word
    {"q": "basalt-coloured"},  # punctuation separates words on both engines
    {"q": "answer s"},  # "Answer's" is the words "answer" and "s"
    {"q": "opera"},  # the category title is searched too
    {"q": "rivers of europe"},
    {"q": "lighthouse"},  # whole words: "lighthouses" does not match, no stemming
    {"q": "ambers"},
    {"q": "Douro"},
    {"q": "nothing matches this"},
    {"q": "the", "limit": 7},  # many matches: pages
    {"category": "opera"},
    {"category": "no such title"},
    {"source": "jservice"},
    {"source": "opentdb"},
    {"min_value": 600},
    {"max_value": 200},
    {"min_value": 400, "max_value": 600},
    {"airdate_from": "1990-01-01"},
    {"airdate_to": "1985-06-30"},
    {"airdate_from": "1988-01-01", "airdate_to": "1991-12-31"},
    {"q": "cobalt", "category": "world rivers", "min_value": 400},
    {"q": "ember", "airdate_from": "1987-01-01", "max_value": 800, "limit": 3},
]

_WORD = re.compile(r"[^\W_]+")


def _words(item: dict[str, Any]) -> set[str]:
    text = " ".join([item["question"], item["answer"], item["category"] or ""])
    return set(_WORD.findall(text.lower()))


def reference(items: list[dict[str, Any]], query: dict[str, Any]) -> list[str]:
    """What the query must find, computed here from the stored items, newest first."""
    found = []
    for item in sorted(items, key=lambda row: row["id"], reverse=True):
        if "q" in query and not set(_WORD.findall(query["q"].lower())) <= _words(item):
            continue
        if "category" in query and item["category"] != query["category"]:
            continue
        if "source" in query and item["source"] != query["source"]:
            continue
        value, airdate = item["value"], item["airdate"]
        if "min_value" in query and (value is None or value < query["min_value"]):
            continue
        if "max_value" in query and (value is None or value > query["max_value"]):
            continue
        if "airdate_from" in query and (airdate is None or airdate < query["airdate_from"]):
            continue
        if "airdate_to" in query and (airdate is None or airdate > query["airdate_to"]):
            continue
        found.append(item["upstream_id"])
    return found


async def every_page(client: httpx.AsyncClient, query: dict[str, Any]) -> list[str]:
    found: list[str] = []
    params = dict(query)
    while True:
        response = await client.get("/quiz/questions", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found += [item["upstream_id"] for item in page["items"]]
        if page["next_before_id"] is None:
            return found
        params["before_id"] = page["next_before_id"]


@pytest.fixture
async def sqlite_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'quiz.db'}"
    await asyncio.to_thread(upgrade_database, ALEMBIC_INI, url)
    async with running_app(create_app(quiz_settings(url))) as client:
        yield client


@pytest.mark.sqlite
async def test_one_query_set_same_results_on_postgresql_and_sqlite(
    client: httpx.AsyncClient, sqlite_client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    items = bank_items()
    await store_items(client, upstream, items)
    await store_items(sqlite_client, upstream, items)
    stored = (await client.get("/quiz/questions", params={"limit": 100})).json()["items"]
    results: dict[str, list[list[str]]] = {}
    for name, engine in (("postgresql", client), ("sqlite", sqlite_client)):
        results[name] = [await every_page(engine, query) for query in QUERIES]
    expected = [reference(stored, query) for query in QUERIES]
    assert results["postgresql"] == expected
    assert results["sqlite"] == expected
    # Five queries are meant to find nothing and one ("jservice") everything; the rest
    # find some of the questions, so the comparison says something.
    empty = [query for query, found in zip(QUERIES, expected, strict=True) if not found]
    assert len(empty) == 5, empty
    assert sum(1 for found in expected if 0 < len(found) < len(stored)) == len(QUERIES) - 6


async def test_search_stays_current_as_questions_are_stored(
    make_client: ClientFactory, upstream: respx.MockRouter
) -> None:
    async with make_client() as client:
        items = bank_items()
        await store_items(client, upstream, items[:30])
        before = await every_page(client, {"q": "amber"})
        await store_items(client, upstream, items[30:])
        after = await every_page(client, {"q": "amber"})
    assert len(after) > len(before)
    assert after[-len(before) :] == before


@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "!!! ..."},  # no word in it
        {"q": "x" * 201},
        {"source": "wikipedia"},
        {"category": "a\x00b"},
        {"min_value": -1},
        {"airdate_from": "yesterday"},
        {"airdate_to": "2001-02-30"},
    ],
)
async def test_bad_filters_are_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    body = assert_problem(await client.get("/quiz/questions", params=params), 422)
    assert body["errors"][0]["field"].startswith("query.")
