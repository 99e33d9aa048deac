"""GET /quiz/categories and GET /quiz/stats."""

from __future__ import annotations

from collections import Counter

import httpx
import respx

from quiz_service.tests.bank_data import bank_items, store_items
from testkit.problems import assert_problem


async def test_categories_largest_first_with_counts(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    await store_items(client, upstream, bank_items())
    stored = (await client.get("/quiz/questions", params={"limit": 100})).json()["items"]
    counts = Counter(item["category"] for item in stored)
    page = (await client.get("/quiz/categories", params={"limit": 100})).json()
    assert page["total"] == len(counts)
    assert {item["title"]: item["clues_count"] for item in page["items"]} == counts
    sizes = [item["clues_count"] for item in page["items"]]
    assert sizes == sorted(sizes, reverse=True)
    second = (await client.get("/quiz/categories", params={"limit": 2, "offset": 2})).json()
    assert second["items"] == page["items"][2:4]


async def test_stats_totals_newest_and_oldest(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    empty = (await client.get("/quiz/stats")).json()
    assert empty == {
        "questions": 0,
        "by_source": [],
        "categories": 0,
        "top_categories": [],
        "newest": None,
        "oldest": None,
    }
    stored = await store_items(client, upstream, bank_items())
    stats = (await client.get("/quiz/stats")).json()
    listing = (await client.get("/quiz/questions", params={"limit": 100})).json()["items"]
    assert stats["questions"] == stored == len(listing)
    assert stats["by_source"] == [{"source": "jservice", "questions": stored}]
    assert stats["newest"] == listing[0]
    assert stats["oldest"] == listing[-1]
    assert sum(item["clues_count"] for item in stats["top_categories"]) == stored


async def test_bad_category_page_is_422(client: httpx.AsyncClient) -> None:
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        assert_problem(await client.get("/quiz/categories", params=params), 422)
