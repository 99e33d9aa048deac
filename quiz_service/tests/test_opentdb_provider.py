"""The Open Trivia DB provider against responses of opentdb's recorded shape."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.settings import OPENTDB_DEFAULT_URL, QuizSettings
from quiz_service.tests.support import ClientFactory, stored_questions
from quiz_service.upstream import (
    FetchContext,
    UpstreamExhausted,
    UpstreamRateLimited,
    UpstreamRejected,
)
from quiz_service.upstream.opentdb import OpenTdbProvider, question_identity
from quiz_service.upstream.retry import RetryPolicy

API_URL = "https://opentdb.test/api.php"
TOKEN_URL = "https://opentdb.test/api_token.php"
TOKEN = "0ec6e8b0c2a3f5f1d5c2ad3a1b9f8f5d7f6e5d4c3b2a19080706050403020100"
POLICY = RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.02)
INTERVAL = 0.2


def encoded(result: dict[str, Any]) -> dict[str, Any]:
    """What ``encode=url3986`` does to a result: every string percent-encoded."""
    return {
        key: [quote(v, safe="") for v in value]
        if isinstance(value, list)
        else quote(value, safe="")
        for key, value in result.items()
    }


ZELDA: dict[str, Any] = {
    "type": "multiple",
    "difficulty": "easy",
    "category": "Entertainment: Video Games",
    "question": 'What is the name of the main character in "The Legend of Zelda"?',
    "correct_answer": "Link",
    "incorrect_answers": ["Zelda", "Ganon", "Epona"],
}
PLUTO: dict[str, Any] = {
    "type": "boolean",
    "difficulty": "medium",
    "category": "Science & Nature",
    "question": "Pluto is the ninth planet of the Solar System.",
    "correct_answer": "False",
    "incorrect_answers": ["True"],
}


def ok(*results: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"response_code": 0, "results": [encoded(r) for r in results]})


def code(value: int) -> httpx.Response:
    return httpx.Response(200, json={"response_code": value, "results": []})


def token_reply(token: str = TOKEN) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "response_code": 0,
            "response_message": "Token Generated Successfully!",
            "token": token,
        },
    )


@pytest.fixture
async def provider() -> AsyncIterator[OpenTdbProvider]:
    async with httpx.AsyncClient(timeout=1) as client:
        yield OpenTdbProvider(client, API_URL, POLICY, min_interval_s=INTERVAL)


def context(seconds: float = 5.0) -> FetchContext:
    return FetchContext(deadline=asyncio.get_running_loop().time() + seconds)


async def test_fetch_decodes_and_derives_identity(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    tokens = upstream.get(TOKEN_URL, params={"command": "request"}).mock(return_value=token_reply())
    api = upstream.get(API_URL).mock(return_value=ok(ZELDA, PLUTO))
    before = datetime.now(UTC)
    batch = await provider.fetch(80, ctx := context())
    assert tokens.call_count == 1
    params = api.calls.last.request.url.params
    assert dict(params) == {"amount": "50", "encode": "url3986", "token": TOKEN}
    assert ctx.calls == 2
    zelda, pluto = batch.questions
    assert zelda.question == ZELDA["question"]
    assert zelda.raw_question == ZELDA["question"]
    assert zelda.answer == "Link"
    assert zelda.category == "Entertainment: Video Games"
    assert pluto.category == "Science & Nature"
    assert zelda.raw == encoded(ZELDA)
    expected = hashlib.sha256(ZELDA["question"].casefold().encode()).hexdigest()
    assert zelda.upstream_id == expected == question_identity(zelda.question)
    assert len(zelda.upstream_id) == 64
    assert zelda.value is None
    assert zelda.airdate is None
    assert before <= zelda.created_at <= datetime.now(UTC)


def test_identity_ignores_encoding_case_and_spacing() -> None:
    assert question_identity("Pluto is  a planet") == question_identity("pluto is a planet")
    assert question_identity("Pluto is a planet") != question_identity("Pluto is a moon")


async def test_html_entity_encoding_is_decoded_too(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    upstream.get(TOKEN_URL).mock(return_value=token_reply())
    entity_encoded = {
        **ZELDA,
        "question": "What is the name of the main character in &quot;The Legend of Zelda&quot;?",
    }
    upstream.get(API_URL).mock(
        return_value=httpx.Response(200, json={"response_code": 0, "results": [entity_encoded]})
    )
    (question,) = (await provider.fetch(1, context())).questions
    assert question.question == ZELDA["question"]
    assert question.upstream_id == question_identity(ZELDA["question"])


async def test_code_1_is_exhausted_and_2_rejected(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    upstream.get(TOKEN_URL).mock(return_value=token_reply())
    api = upstream.get(API_URL)
    api.side_effect = [code(1)]
    with pytest.raises(UpstreamExhausted):
        await provider.fetch(5, context())
    api.side_effect = [code(2)]
    with pytest.raises(UpstreamRejected):
        await provider.fetch(5, context())


async def test_code_4_resets_the_token_and_retries(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    upstream.get(TOKEN_URL, params={"command": "request"}).mock(return_value=token_reply())
    reset = upstream.get(TOKEN_URL, params={"command": "reset", "token": TOKEN}).mock(
        return_value=token_reply()
    )
    api = upstream.get(API_URL)
    api.side_effect = [code(4), ok(ZELDA)]
    batch = await provider.fetch(1, context())
    assert len(batch.questions) == 1
    assert reset.call_count == 1
    assert api.calls.last.request.url.params["token"] == TOKEN


async def test_code_3_gets_a_new_token_and_retries(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    request = upstream.get(TOKEN_URL, params={"command": "request"})
    request.side_effect = [token_reply("old"), token_reply("new")]
    upstream.get(TOKEN_URL, params={"command": "reset"}).mock(
        return_value=httpx.Response(200, json={"response_code": 3, "token": ""})
    )
    api = upstream.get(API_URL)
    api.side_effect = [code(3), ok(ZELDA)]
    assert len((await provider.fetch(1, context())).questions) == 1
    assert [call.request.url.params["token"] for call in api.calls] == ["old", "new"]


async def test_code_5_waits_the_interval_then_succeeds(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    upstream.get(TOKEN_URL).mock(return_value=token_reply())
    api = upstream.get(API_URL)
    api.side_effect = [code(5), ok(ZELDA)]
    started = time.perf_counter()
    assert len((await provider.fetch(1, context())).questions) == 1
    assert time.perf_counter() - started >= INTERVAL


async def test_calls_are_spaced_by_the_interval(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    upstream.get(TOKEN_URL).mock(return_value=token_reply())
    stamps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        stamps.append(time.perf_counter())
        return ok(ZELDA)

    upstream.get(API_URL).mock(side_effect=answer)
    await asyncio.gather(*(provider.fetch(1, context()) for _ in range(3)))
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert len(gaps) == 2
    assert all(gap >= INTERVAL * 0.95 for gap in gaps), gaps


async def test_interval_past_the_deadline_is_rate_limited(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    upstream.get(TOKEN_URL).mock(return_value=token_reply())
    upstream.get(API_URL).mock(return_value=ok(ZELDA))
    await provider.fetch(1, context())
    with pytest.raises(UpstreamRateLimited):
        await provider.fetch(1, context(INTERVAL / 4))


async def test_without_a_token_calls_still_go_out(
    provider: OpenTdbProvider, upstream: respx.MockRouter
) -> None:
    upstream.get(TOKEN_URL).mock(return_value=httpx.Response(503))
    api = upstream.get(API_URL).mock(return_value=ok(PLUTO))
    assert len((await provider.fetch(1, context())).questions) == 1
    assert "token" not in api.calls.last.request.url.params


def test_opentdb_url_default() -> None:
    settings = QuizSettings(provider="opentdb")
    assert settings.upstream_url == OPENTDB_DEFAULT_URL
    assert QuizSettings(provider="opentdb", upstream_url=API_URL).upstream_url == API_URL


async def test_post_quiz_with_opentdb(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    upstream.get(TOKEN_URL).mock(return_value=token_reply())
    api = upstream.get(API_URL)
    # The repeat of ZELDA comes entity-encoded: same text, same identity, not stored twice.
    zelda_again = {**ZELDA, "question": ZELDA["question"].replace('"', "&quot;")}
    api.side_effect = [
        ok(ZELDA),
        httpx.Response(200, json={"response_code": 0, "results": [PLUTO]}),
        httpx.Response(200, json={"response_code": 0, "results": [zelda_again]}),
        code(1),
    ]
    async with make_client(provider="opentdb", upstream_url=API_URL) as client:
        assert (await client.post("/quiz", json={"questions_num": 1})).json() == {}
        second = (await client.post("/quiz", json={"questions_num": 1})).json()
        assert second["source"] == "opentdb"
        assert second["question"] == ZELDA["question"]
        assert second["upstream_id"] == question_identity(ZELDA["question"])
        assert second["value"] is None
        response = await client.post("/quiz", json={"questions_num": 1})
        assert response.status_code == 503
        assert (response.json()["requested"], response.json()["stored"]) == (1, 0)
    rows = await stored_questions(db_engine)
    assert [row.answer for row in rows] == ["Link", "False"]
    assert {row.source for row in rows} == {"opentdb"}


def trivia(number: int) -> dict[str, Any]:
    return {**PLUTO, "question": f"Is {number} a prime number?"}


async def test_opentdb_over_fetches_within_the_calls_a_round_needs(
    make_client: ClientFactory, upstream: respx.MockRouter, db_engine: AsyncEngine
) -> None:
    """Its calls are spaced out, so an extra call would cost a whole interval: a round with
    45 missing and 90 % repeats asks for one full call of 50, not five of 100 (jservice)."""
    upstream.get(TOKEN_URL).mock(return_value=token_reply())
    api = upstream.get(API_URL)
    api.side_effect = [
        ok(*(trivia(i) for i in range(50))),
        ok(*(trivia(i) for i in range(45)), *(trivia(i) for i in range(100, 105))),
        ok(*(trivia(i) for i in range(200, 250))),
    ]
    async with make_client(provider="opentdb", upstream_url=API_URL) as client:
        assert (await client.post("/quiz", json={"questions_num": 50})).status_code == 200
        assert (await client.post("/quiz", json={"questions_num": 50})).status_code == 200
    assert [call.request.url.params["amount"] for call in api.calls] == ["50", "50", "50"]
    assert len(await stored_questions(db_engine)) == 100
