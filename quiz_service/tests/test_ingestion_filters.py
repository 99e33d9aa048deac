"""POST /quiz's optional ingestion filters: category/difficulty for Open Trivia DB,
category/value for a jservice-compatible upstream (through its /api/clues), and a 422 for
what the configured provider cannot honour."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.tests.emulator import Emulator
from quiz_service.tests.support import ClientFactory, stored_questions
from quiz_service.tests.test_opentdb_provider import API_URL, TOKEN_URL, ZELDA, ok, token_reply
from quiz_service.upstream.jservice import clues_url
from testkit.problems import assert_problem


async def test_jservice_category_filter_reads_the_clues_endpoint(
    make_client: ClientFactory, emulator: Emulator, db_engine: AsyncEngine
) -> None:
    async with make_client(upstream_url=emulator.random_url) as client:
        response = await client.post("/quiz", json={"questions_num": 5, "category": 8})
        assert response.status_code == 200, response.text
        # The emulator's category 8 has five clues: all stored, nothing is left.
        again = await client.post("/quiz", json={"questions_num": 1, "category": 8})
    assert_problem(again, 503, requested=1, stored=0)
    rows = await stored_questions(db_engine)
    assert len(rows) == 5
    assert {row.raw["category_id"] for row in rows} == {8}
    assert len({row.category for row in rows}) == 1


async def test_jservice_value_filter_pages_through_the_clues(
    make_client: ClientFactory, emulator: Emulator, db_engine: AsyncEngine
) -> None:
    async with make_client(upstream_url=emulator.random_url, max_questions_num=150) as client:
        first = await client.post("/quiz", json={"questions_num": 30, "value": 400})
        second = await client.post("/quiz", json={"questions_num": 150, "value": 400})
    assert first.status_code == second.status_code == 200
    rows = await stored_questions(db_engine)
    assert len(rows) == len({row.upstream_id for row in rows}) == 180
    assert {row.value for row in rows} == {400}


async def test_opentdb_filters_reach_the_upstream(
    make_client: ClientFactory, upstream: respx.MockRouter
) -> None:
    upstream.get(TOKEN_URL).mock(return_value=token_reply())
    api = upstream.get(API_URL).mock(return_value=ok(ZELDA))
    async with make_client(provider="opentdb", upstream_url=API_URL) as client:
        body = {"questions_num": 1, "category": 15, "difficulty": "easy"}
        assert (await client.post("/quiz", json=body)).status_code == 200
    params = api.calls.last.request.url.params
    assert (params["category"], params["difficulty"]) == ("15", "easy")


@pytest.mark.parametrize(
    ("settings", "body", "field"),
    [
        ({}, {"difficulty": "easy"}, "body.difficulty"),
        ({"provider": "opentdb", "upstream_url": API_URL}, {"value": 200}, "body.value"),
        ({"provider": "opentdb", "upstream_url": API_URL}, {"category": 5}, "body.category"),
        # No /random at the end of the URL: no /api/clues to filter with.
        ({"upstream_url": "http://jservice.test/questions"}, {"category": 3}, "body.category"),
        ({}, {"difficulty": "extreme"}, "body.difficulty"),
        ({}, {"category": "3"}, "body.category"),
        ({}, {"value": -100}, "body.value"),
        ({}, {"categry": 3}, "body.categry"),  # unknown keys stay 422
    ],
)
async def test_filters_the_provider_cannot_honour_are_422(
    make_client: ClientFactory,
    upstream: respx.MockRouter,
    settings: dict[str, Any],
    body: dict[str, Any],
    field: str,
) -> None:
    async with make_client(**settings) as client:
        response = await client.post("/quiz", json={"questions_num": 1, **body})
    problem = assert_problem(response, 422)
    assert [error["field"] for error in problem["errors"]] == [field]
    assert not upstream.calls


def test_clues_url_sits_beside_random() -> None:
    assert clues_url("http://h:9/api/random") == "http://h:9/api/clues"
    assert clues_url("http://h/quiz/api/random?x=1") == "http://h/quiz/api/clues"
    assert clues_url("http://h/api/other") is None


async def test_emulator_clues_match_the_contract(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url) as client:
        page = (await client.get("/api/clues", params={"value": 200})).json()
        more = (await client.get("/api/clues", params={"value": 200, "offset": 100})).json()
        category = (await client.get("/api/clues", params={"category": 8})).json()
        bad = await client.get("/api/clues", params={"offset": "-1"})
    assert len(page) == len(more) == 100
    assert page[-1]["id"] < more[0]["id"]
    assert {item["value"] for item in page + more} == {200}
    assert [item["category_id"] for item in category] == [8] * 5
    assert bad.status_code == 400
