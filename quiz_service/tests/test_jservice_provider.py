"""The jservice provider and its retries, against respx at the HTTP transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import pytest
import respx

from quiz_service.tests.fakes import UPSTREAM_URL, clue, clues
from quiz_service.upstream import FetchContext, errors
from quiz_service.upstream.jservice import JServiceProvider
from quiz_service.upstream.retry import RetryPolicy, parse_retry_after
from testkit.jservice import jservice_items

POLICY = RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.02)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.2)) as client:
        yield client


@pytest.fixture
def provider(http: httpx.AsyncClient) -> JServiceProvider:
    return JServiceProvider(http, UPSTREAM_URL, POLICY)


def context(seconds: float = 5.0) -> FetchContext:
    return FetchContext(deadline=asyncio.get_running_loop().time() + seconds)


def sent_counts(route: respx.Route) -> list[str]:
    return [call.request.url.params["count"] for call in route.calls]


async def test_items_of_the_real_shape_are_parsed_and_blank_questions_skipped(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    sample = jservice_items()
    route = upstream.get(UPSTREAM_URL).respond(200, json=sample)
    batch = await provider.fetch(100, ctx := context())
    assert sent_counts(route) == ["100"]
    assert ctx.calls == 1
    # Emptied clues (a stale answer, no question) and a question of only "=".
    blank = [item for item in sample if item["question"] in ("", "=")]
    assert batch.blank == len(blank) == 5
    assert len(batch.questions) == len(sample) - len(blank)
    assert batch.invalid == 0
    by_id = {q.upstream_id: q for q in batch.questions}
    escaped = [q for q in batch.questions if "\\'" in q.raw_answer]
    assert escaped, "the items have backslash-escaped answers"
    for question in escaped:
        assert "\\'" not in question.answer
    html = [q for q in batch.questions if "<i>" in q.raw_answer]
    assert html
    for question in html:
        assert "<i>" not in question.answer
    first = by_id[str(sample[0]["id"])]
    assert first.raw == sample[0]
    assert first.created_at == datetime(2014, 2, 11, 22, 47, 19, 100000, tzinfo=UTC)
    assert first.airdate == date(1985, 1, 10)
    assert first.category == "lighthouses"
    assert first.value == 100


async def test_count_is_capped_at_100(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    route = upstream.get(UPSTREAM_URL).respond(200, json=clues(range(1, 101)))
    batch = await provider.fetch(150, context())
    assert sent_counts(route) == ["100"]
    assert len(batch.questions) == 100


async def test_extra_rows_beyond_count_are_ignored(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    upstream.get(UPSTREAM_URL).respond(200, json=clues(range(1, 11)))
    batch = await provider.fetch(3, context())
    assert [q.upstream_id for q in batch.questions] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "17"),
        ("value", "$200"),
        ("question", None),
        ("answer", 42),
        ("airdate", 476712000),
        ("category", "baseball"),
        ("category_id", [1]),
        ("created_at", "not a date"),
    ],
)
async def test_item_with_wrong_type_is_dropped_alone(
    provider: JServiceProvider, upstream: respx.MockRouter, field: str, value: object
) -> None:
    upstream.get(UPSTREAM_URL).respond(200, json=[clue(1), clue(2, **{field: value}), clue(3)])
    batch = await provider.fetch(3, context())
    assert [q.upstream_id for q in batch.questions] == ["1", "3"]
    assert batch.invalid == 1


@pytest.mark.parametrize("field", ["id", "question", "answer", "value", "created_at", "category"])
async def test_item_missing_a_field_is_dropped_alone(
    provider: JServiceProvider, upstream: respx.MockRouter, field: str
) -> None:
    broken = clue(2)
    del broken[field]
    upstream.get(UPSTREAM_URL).respond(200, json=[clue(1), broken])
    batch = await provider.fetch(2, context())
    assert [q.upstream_id for q in batch.questions] == ["1"]
    assert batch.invalid == 1


async def test_item_missing_a_category_field_is_dropped(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    broken = clue(2)
    del broken["category"]["title"]
    upstream.get(UPSTREAM_URL).respond(200, json=[clue(1), broken])
    batch = await provider.fetch(2, context())
    assert batch.invalid == 1


async def test_nullable_fields_may_be_null(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    item = clue(1, value=None, game_id=None, invalid_count=None, airdate=None)
    upstream.get(UPSTREAM_URL).respond(200, json=[item])
    (question,) = (await provider.fetch(1, context())).questions
    assert question.value is None
    assert question.airdate is None


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>We're sorry</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, text='[{"id": 1, "answer": "tru'),
        httpx.Response(200, json={"clues": clues([1])}),
        httpx.Response(200, json=clue(1)),
        httpx.Response(200, json=[{"id": 1}, {"id": 2}]),
        httpx.Response(200, json=[1, 2]),
    ],
    ids=["html", "truncated", "wrapped", "object", "all-items-invalid", "not-objects"],
)
async def test_malformed_response_is_retried_then_raised(
    provider: JServiceProvider, upstream: respx.MockRouter, response: httpx.Response
) -> None:
    route = upstream.get(UPSTREAM_URL).mock(return_value=response)
    with pytest.raises(errors.UpstreamMalformed):
        await provider.fetch(2, ctx := context())
    assert route.call_count == POLICY.max_attempts == ctx.calls


async def test_malformed_once_then_good(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [httpx.Response(200, text="oops"), httpx.Response(200, json=clues([1]))]
    batch = await provider.fetch(1, context())
    assert [q.upstream_id for q in batch.questions] == ["1"]
    assert route.call_count == 2


async def test_empty_array_means_exhausted_without_retry(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    route = upstream.get(UPSTREAM_URL).respond(200, json=[])
    with pytest.raises(errors.UpstreamExhausted):
        await provider.fetch(5, context())
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (httpx.ConnectError("refused"), errors.UpstreamUnreachable),
        (httpx.ReadTimeout("slow"), errors.UpstreamTimeout),
        (httpx.RemoteProtocolError("dropped"), errors.UpstreamUnreachable),
        (
            httpx.Response(500, json={"status": 500, "error": "Internal Server Error"}),
            errors.UpstreamServerError,
        ),
        (httpx.Response(502, text="<html>502 Bad Gateway</html>"), errors.UpstreamServerError),
        (httpx.Response(503), errors.UpstreamServerError),
    ],
    ids=["connect", "timeout", "dropped", "500", "502", "503"],
)
async def test_transient_fault_then_success(
    provider: JServiceProvider,
    upstream: respx.MockRouter,
    fault: Exception | httpx.Response,
    error: type[Exception],
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [fault, fault, httpx.Response(200, json=clues([1, 2]))]
    batch = await provider.fetch(2, ctx := context())
    assert len(batch.questions) == 2
    assert route.call_count == ctx.calls == 3
    assert sent_counts(route) == ["2", "2", "2"]

    route.side_effect = [fault] * POLICY.max_attempts
    with pytest.raises(error):
        await provider.fetch(2, context())


async def test_429_honours_retry_after(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    route = upstream.get(UPSTREAM_URL)
    route.side_effect = [
        httpx.Response(429, text="Retry later\n", headers={"Retry-After": "1"}),
        httpx.Response(200, json=clues([1])),
    ]
    started = time.perf_counter()
    batch = await provider.fetch(1, context())
    assert time.perf_counter() - started >= 1.0
    assert len(batch.questions) == 1
    assert route.call_count == 2


async def test_429_beyond_the_deadline_is_not_waited_for(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    route = upstream.get(UPSTREAM_URL).respond(429, headers={"Retry-After": "30"})
    started = time.perf_counter()
    with pytest.raises(errors.UpstreamRateLimited) as caught:
        await provider.fetch(1, context(2.0))
    assert time.perf_counter() - started < 2.0  # not the 30 s asked for
    assert caught.value.retry_after == 30
    assert route.call_count == 1


async def test_other_4xx_is_not_retried(
    provider: JServiceProvider, upstream: respx.MockRouter
) -> None:
    route = upstream.get(UPSTREAM_URL).respond(404, text="Not Found")
    with pytest.raises(errors.UpstreamRejected):
        await provider.fetch(1, context())
    assert route.call_count == 1


async def test_backoff_stops_at_the_deadline(
    http: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    slow_policy = RetryPolicy(max_attempts=100, backoff_base_s=0.2, backoff_max_s=0.2)
    provider = JServiceProvider(http, UPSTREAM_URL, slow_policy)
    upstream.get(UPSTREAM_URL).respond(503)
    started = time.perf_counter()
    with pytest.raises(errors.UpstreamServerError):
        await provider.fetch(1, context(0.5))
    assert time.perf_counter() - started < 2.0  # not 100 attempts of 0.2 s


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now) == 5
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
