"""GET /metrics of the quiz service: HTTP requests by route template, upstream outcomes."""

from __future__ import annotations

import asyncio

import httpx
import respx

from quiz_service.metrics import UPSTREAM_OUTCOMES
from quiz_service.tests.fakes import UPSTREAM_URL, clues, fake_upstream
from quiz_service.tests.support import ClientFactory
from quiz_service.upstream import errors
from testkit.metrics import Scrape


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


def test_every_upstream_error_has_an_outcome_the_metrics_know() -> None:
    kinds: list[type[errors.UpstreamError]] = errors.UpstreamError.__subclasses__()
    outcomes = {kind.outcome for kind in kinds}
    assert outcomes <= set(UPSTREAM_OUTCOMES)
    assert len(outcomes) == len(kinds), "each kind of fault has an outcome of its own"


async def test_requests_are_counted_by_route_template(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    before = await scrape(client)
    assert (await client.get("/quiz/questions/12345")).status_code == 404
    assert (await client.get("/quiz/questions/777")).status_code == 404
    assert (await client.get("/no/such/path")).status_code == 404
    assert (await client.post("/quiz", json={"questions_num": "x"})).status_code == 422
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    template = {"route": "/quiz/questions/{question_id}", "method": "GET"}
    assert moved("http_requests_total", **template, status="404") == 2
    assert moved("http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert moved("http_requests_total", route="/quiz", method="POST", status="422") == 1
    assert moved("http_request_duration_seconds_count", **template) == 2
    assert not any("12345" in str(key) for key in after.samples), "no raw path is a label"
    assert after.value("http_requests_in_flight") == 1  # the scrape itself


async def test_upstream_outcomes_retries_and_stored_questions(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    upstream.get(UPSTREAM_URL).side_effect = [
        # Round 1: three faults, each retried (4 attempts per call), then 3 new questions.
        httpx.Response(500),
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json=clues([1, 2, 3])),
        # Round 2, for the 4th: a maintenance page, retried, then a repeat and a new one.
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, json=clues([3, 4])),
    ]
    before = await scrape(client)
    assert all(
        before.value("quiz_upstream_calls_total", provider="jservice", outcome=outcome) == 0
        for outcome in UPSTREAM_OUTCOMES
    ), "every outcome's series exists from the start, at 0"
    response = await client.post("/quiz", json={"questions_num": 4}, timeout=10)
    assert response.status_code == 200, response.text
    after = await scrape(client)
    jservice = {"provider": "jservice"}
    calls = {
        outcome: after.value("quiz_upstream_calls_total", **jservice, outcome=outcome)
        for outcome in UPSTREAM_OUTCOMES
    }
    assert calls == {
        **dict.fromkeys(UPSTREAM_OUTCOMES, 0),
        **{"ok": 2, "5xx": 1, "429": 1, "timeout": 1, "malformed": 1},
    }
    assert after.value("quiz_upstream_retries_total", **jservice) == 4
    assert after.value("quiz_questions_stored_total", **jservice) == 4
    assert after.value("quiz_duplicates_total", **jservice) == 1
    assert after.value("quiz_fetch_rounds_count", **jservice) == 1
    assert after.value("quiz_fetch_rounds_sum", **jservice) == 2
    assert after.value("quiz_fetch_rounds_bucket", **jservice, le="1.0") == 0
    assert after.value("quiz_fetch_rounds_bucket", **jservice, le="2.0") == 1
    assert after.value("quiz_ingestions_total", **jservice, outcome="ok") == 1


async def test_a_deadline_hit_is_counted(
    make_client: ClientFactory, upstream: respx.MockRouter
) -> None:
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    upstream.get(UPSTREAM_URL).side_effect = hang
    async with make_client(request_deadline_s=0.2) as client:
        assert (await client.post("/quiz", json={"questions_num": 2})).status_code == 504
        after = await scrape(client)
    assert after.value("quiz_deadline_hits_total", provider="jservice") == 1
    assert after.value("quiz_ingestions_total", provider="jservice", outcome="gateway-timeout") == 1
    assert after.value("http_requests_total", route="/quiz", method="POST", status="504") == 1


async def test_metrics_off_serves_no_metrics_and_counts_nothing(
    make_client: ClientFactory, upstream: respx.MockRouter
) -> None:
    fake_upstream(upstream)
    async with make_client(metrics="off") as client:
        assert (await client.post("/quiz", json={"questions_num": 0})).status_code == 200
        assert (await client.get("/metrics")).status_code == 404
