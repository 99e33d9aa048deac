"""The quiz admin over HTTP, in-process: questions searched by text, narrowed by category and
by date, each with the raw item the upstream sent; nothing can be changed."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from quiz_service.tests.fakes import UPSTREAM_URL, clue
from quiz_service.tests.support import ClientFactory
from testkit import admin

BASE = "/admin/quiz"


def question(clue_id: int, text: str, category: str, **overrides: Any) -> dict[str, Any]:
    item = clue(clue_id, question=text, **overrides)
    item["category"]["title"] = category
    return item


QUESTIONS = [
    question(101, "This river flows through Zelvenport", "rivers"),
    question(102, "This bridge spans the Zelven", "bridges"),
    question(103, "This mountain towers over Orlach", "mountains"),
    question(104, "This lake lies below Orlach", "lakes", airdate="2001-05-04T12:00:00.000Z"),
]


@pytest.fixture
async def signed_in(
    make_client: ClientFactory, upstream: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(**admin.admin_overrides()) as client:
        upstream.get(UPSTREAM_URL).respond(200, json=QUESTIONS)
        stored = await client.post("/quiz", json={"questions_num": len(QUESTIONS)})
        assert stored.status_code == 200, stored.text
        assert (await admin.login(client, BASE)).status_code == 303
        yield client


async def listed_questions(client: httpx.AsyncClient, **params: str) -> list[str]:
    """The question texts the list page shows for these query parameters."""
    response = await client.get(f"{BASE}/question/list", params=params)
    assert response.status_code == 200, response.text
    cells = re.findall(r'<td data-column="question"\s*>(.*?)</td>', response.text, re.S)
    return sorted(html.unescape(re.sub(r"<[^>]+>|\s+", " ", cell)).strip() for cell in cells)


async def test_the_list_needs_a_login(make_client: ClientFactory) -> None:
    async with make_client(**admin.admin_overrides()) as client:
        response = await client.get(f"{BASE}/question/list")
        assert response.status_code == 303
        assert "/admin/quiz/login" in response.headers["location"]


async def test_questions_are_searched_by_text_category_and_date(
    signed_in: httpx.AsyncClient,
) -> None:
    everything = await listed_questions(signed_in)
    assert len(everything) == 4
    # Text: in the question, the answer or the category.
    assert await listed_questions(signed_in, q="Orlach") == [
        "This lake lies below Orlach",
        "This mountain towers over Orlach",
    ]
    assert await listed_questions(signed_in, q="bridges") == ["This bridge spans the Zelven"]
    # The filter builder's filters: category, and a range of air dates.
    assert await listed_questions(signed_in, filter="category__eq=rivers") == [
        "This river flows through Zelvenport"
    ]
    assert await listed_questions(signed_in, filter="airdate__between=2001-01-01..2001-12-31") == [
        "This lake lies below Orlach"
    ]


async def test_a_question_shows_the_raw_upstream_item(signed_in: httpx.AsyncClient) -> None:
    question_id = (await signed_in.get("/quiz/questions")).json()["items"][-1]["id"]
    response = await signed_in.get(f"{BASE}/question/detail", params={"pk": question_id})
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert "Raw upstream item" in page
    assert '"clues_count": 45' in page or '"clues_count":45' in page  # deep in the raw item
    assert "This river flows through Zelvenport" in page


async def test_questions_cannot_be_changed(signed_in: httpx.AsyncClient) -> None:
    for path in ("/question/create", "/question/edit?pk=1"):
        assert (await signed_in.get(f"{BASE}{path}")).status_code in (403, 404), path
    question_id = (await signed_in.get("/quiz/questions")).json()["items"][0]["id"]
    response = await signed_in.post(
        f"{BASE}/_api/question/action?name=delete&pks={question_id}",
        headers=admin.csrf_header(signed_in),
    )
    assert response.status_code == 400
    assert len(await listed_questions(signed_in)) == 4
