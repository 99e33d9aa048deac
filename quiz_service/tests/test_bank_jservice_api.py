"""The jService-compatible API under /quiz/api/: shapes (the shared contract), parameters,
caps and quirks as jService had them, and the categories the ingestion keeps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.main import create_app
from quiz_service.settings import QuizSettings
from quiz_service.tests.bank_data import bank_items, spread_clues, store_items
from quiz_service.tests.fakes import UPSTREAM_URL
from testkit.apps import running_app
from testkit.jservice_contract import category_problems, clue_problems, listed_category_problems
from testkit.problems import assert_problem

JSERVICE_KEYS_FROM_RAW = (
    "answer",
    "question",
    "value",
    "airdate",
    "created_at",
    "updated_at",
    "game_id",
    "invalid_count",
)


@pytest.fixture
async def stored(client: httpx.AsyncClient, upstream: respx.MockRouter) -> list[dict[str, Any]]:
    """The raw items that were stored (the usable ones), by upstream id."""
    items = bank_items()
    await store_items(client, upstream, items)
    return [item for item in items if any(c.isalnum() for c in item["question"])]


async def _all_clues(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = (await client.get("/quiz/api/clues", params={**params, "offset": len(found)})).json()
        found += page
        if len(page) < 100:
            return found


async def test_random_items_keep_jservice_shape_and_raw_fields(
    client: httpx.AsyncClient, stored: list[dict[str, Any]]
) -> None:
    response = await client.get("/quiz/api/random", params={"count": 100})
    assert response.status_code == 200
    items = response.json()
    assert len(items) == min(100, len(stored))
    assert len({item["id"] for item in items}) == len(items)  # distinct within a response
    assert [clue_problems(item) for item in items] == [[]] * len(items)
    by_text = {(raw["question"], raw["answer"]): raw for raw in stored}
    for item in items:
        raw = by_text[(item["question"], item["answer"])]
        # The quirks survive: backslash quotes, HTML, null value/game_id, the airdate's time.
        assert {key: item[key] for key in JSERVICE_KEYS_FROM_RAW} == {
            key: raw[key] for key in JSERVICE_KEYS_FROM_RAW
        }
        assert item["category"]["title"] == raw["category"]["title"]


async def test_random_count_default_cap_and_zero(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    await store_items(client, upstream, spread_clues(1, 150))
    assert len((await client.get("/quiz/api/random")).json()) == 1
    assert (await client.get("/quiz/api/random", params={"count": 0})).json() == []
    capped = (await client.get("/quiz/api/random", params={"count": 1000})).json()
    assert len(capped) == 100
    assert len({item["id"] for item in capped}) == 100


async def test_random_on_an_empty_bank(client: httpx.AsyncClient) -> None:
    assert (await client.get("/quiz/api/random", params={"count": 5})).json() == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/quiz/api/random", {"count": "-1"}),
        ("/quiz/api/random", {"count": "two"}),
        ("/quiz/api/final", {"count": "1.5"}),
        ("/quiz/api/clues", {"offset": "-3"}),
        ("/quiz/api/clues", {"value": "a lot"}),
        ("/quiz/api/clues", {"min_date": "last tuesday"}),
        ("/quiz/api/categories", {"count": "x"}),
        ("/quiz/api/category", {}),
        ("/quiz/api/category", {"id": "abc"}),
    ],
)
async def test_bad_parameters_are_422_problems(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    # jService answered most of these with a 500; a 422 says which parameter is wrong.
    body = assert_problem(await client.get(path, params=params), 422)
    assert body["errors"][0]["field"].startswith("query.")


async def test_clues_filters_and_jservice_date_quirk(
    client: httpx.AsyncClient, stored: list[dict[str, Any]]
) -> None:
    everything = await _all_clues(client)
    assert len(everything) == len(stored)
    assert [item["id"] for item in everything] == sorted(item["id"] for item in everything)
    assert all(clue_problems(item) == [] for item in everything)

    by_value = await _all_clues(client, value=400)
    assert by_value
    assert {item["value"] for item in by_value} == {400}
    assert len(by_value) == sum(1 for raw in stored if raw["value"] == 400)

    category_id = everything[0]["category_id"]
    in_category = await _all_clues(client, category=category_id)
    assert {item["category_id"] for item in in_category} == {category_id}
    assert len(in_category) == everything[0]["category"]["clues_count"]

    day = "1985-02-11"
    aired = [raw for raw in stored if raw["airdate"][:10] == day]
    assert aired
    both = await _all_clues(client, min_date=day, max_date=day)  # inclusive
    assert len(both) == len(aired)
    assert await _all_clues(client, min_date=day, max_date=f"{day}T12:00:00.000Z") == both
    after = await _all_clues(client, min_date=day)  # strict, as jService's "airdate > ?"
    assert len(after) == sum(1 for raw in stored if raw["airdate"][:10] > day)
    before = await _all_clues(client, max_date=day)
    assert len(before) == sum(1 for raw in stored if raw["airdate"][:10] < day)


async def test_clues_page_by_100_with_offset(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    await store_items(client, upstream, spread_clues(1, 130))
    first = (await client.get("/quiz/api/clues")).json()
    second = (await client.get("/quiz/api/clues", params={"offset": 100})).json()
    assert (len(first), len(second)) == (100, 30)
    assert first[-1]["id"] < second[0]["id"]


async def test_final_is_the_clues_without_a_value(
    client: httpx.AsyncClient, stored: list[dict[str, Any]]
) -> None:
    finals = (await client.get("/quiz/api/final", params={"count": 100})).json()
    assert len(finals) == sum(1 for raw in stored if raw["value"] is None)
    assert all(item["value"] is None for item in finals)
    assert all(clue_problems(item) == [] for item in finals)


async def test_categories_and_category(
    client: httpx.AsyncClient, stored: list[dict[str, Any]]
) -> None:
    one = (await client.get("/quiz/api/categories")).json()
    assert len(one) == 1  # jService's default count
    listed = (await client.get("/quiz/api/categories", params={"count": 500})).json()
    titles = {raw["category"]["title"] for raw in stored}
    assert {item["title"] for item in listed} == titles
    assert [listed_category_problems(item) for item in listed] == [[]] * len(listed)
    assert [item["id"] for item in listed] == sorted(item["id"] for item in listed)
    rest = (await client.get("/quiz/api/categories", params={"count": 2, "offset": 1})).json()
    assert rest == listed[1:3]
    for item in listed:
        expected = sum(1 for raw in stored if raw["category"]["title"] == item["title"])
        assert item["clues_count"] == expected
        category = (await client.get("/quiz/api/category", params={"id": item["id"]})).json()
        assert category_problems(category) == []
        assert len(category["clues"]) == expected
        assert {k: category[k] for k in ("id", "title", "clues_count")} == item


async def test_unknown_category_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/quiz/api/category", params={"id": 999}), 404)


async def test_clues_count_grows_only_by_new_questions(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    items = spread_clues(1, 30)
    await store_items(client, upstream, items[:20])
    upstream.get(UPSTREAM_URL).respond(200, json=items[10:])  # ten repeats, ten new
    assert (await client.post("/quiz", json={"questions_num": 10})).status_code == 200
    listed = (await client.get("/quiz/api/categories", params={"count": 100})).json()
    assert sum(item["clues_count"] for item in listed) == 30
    assert (await client.get("/quiz/stats")).json()["questions"] == 30


async def test_clues_counts_left_wrong_by_a_crash_are_corrected(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    settings: QuizSettings,
    db_engine: AsyncEngine,
) -> None:
    """The count is derived data, committed after the questions: a crash between the two
    commits leaves it short. Simulated by writing wrong counts straight into the table;
    the next store of a category recounts it, and the next start recounts them all."""
    items = spread_clues(3, 30)
    await store_items(client, upstream, items[:15])
    async with db_engine.begin() as connection:
        await connection.execute(text("UPDATE categories SET clues_count = 1"))

    async def counts(of: httpx.AsyncClient) -> list[int]:
        listed = (await of.get("/quiz/api/categories", params={"count": 100})).json()
        return sorted(item["clues_count"] for item in listed)

    assert await counts(client) == [1, 1, 1]  # nothing recounts on a read
    restarted_app = create_app(settings)
    async with running_app(restarted_app) as restarted:
        await restarted_app.state.resources.recount  # started by the lifespan
        assert await counts(restarted) == [5, 5, 5]
        async with db_engine.begin() as connection:
            await connection.execute(text("UPDATE categories SET clues_count = 0"))
        upstream.get(UPSTREAM_URL).respond(200, json=items[15:16])
        assert (await restarted.post("/quiz", json={"questions_num": 1})).status_code == 200
        # Only the new question's category was recounted (5 + 1); the others stay wrong
        # until their next store or the next start.
        assert await counts(restarted) == [0, 0, 6]
