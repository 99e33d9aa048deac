"""Upstream faults, injected with the emulator, seen through the gateway.

Every case sends ``POST /quiz`` with its own ``X-Request-ID`` (stored with every row the
request inserts) while the emulator is down, too slow, failing, rate limiting, malformed or
out of questions, and checks:

- the documented status (502 upstream errors and malformed data, 503 rate limiting past the
  deadline and exhaustion, 504 the deadline) as a problem body that states ``requested`` and
  ``stored``, within ``QUIZ_REQUEST_DEADLINE_S`` plus a margin;
- what was stored is consistent: exactly ``stored`` rows carry the request's id, no upstream id
  is stored twice, every stored row has a question and an answer;
- both quiz instances stay healthy (directly and through the gateway), and the next request
  after the fault is lifted succeeds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from devstack.stack import LocalStack
from testkit.problems import assert_problem
from tests.e2e.helpers import (
    duplicate_upstream_ids,
    fetch,
    instance_health,
    new_request_id,
    post_quiz,
    quiz_rows,
    use_fresh_id_pool,
    wait_until,
)

pytestmark = pytest.mark.e2e

# Scheduling noise on a loaded 2-core machine, on top of the service's own deadline.
MARGIN_S = 2.0
MALFORMED_VARIANTS = ["truncated_json", "html", "wrong_shape", "missing_fields", "wrong_types"]


@pytest.fixture
def deadline_s(stack: LocalStack) -> float:
    return float(stack.config.env.get("QUIZ_REQUEST_DEADLINE_S", "10"))


@pytest.fixture
async def fresh_ids(emulator: httpx.AsyncClient) -> httpx.AsyncClient:
    """The emulator, drawing from an id pool of the test's own (see ``use_fresh_id_pool``)."""
    await use_fresh_id_pool(emulator)
    return emulator


async def configure(emulator: httpx.AsyncClient, **settings: Any) -> None:
    response = await emulator.put("/_control/config", json=settings)
    assert response.status_code == 200, response.text


async def stats(emulator: httpx.AsyncClient) -> dict[str, Any]:
    response = await emulator.get("/_control/stats")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def answered(stats_body: dict[str, Any], *statuses: int) -> int:
    """How many upstream calls the emulator answered with one of ``statuses``."""
    counts: dict[str, int] = stats_body["status_counts"]
    return sum(counts.get(str(status), 0) for status in statuses)


async def until_answered(emulator: httpx.AsyncClient, status: int, more_than: int) -> None:
    """Returns once the emulator has answered more than ``more_than`` calls with ``status``
    (its own counter decides, not a guess of how long that takes)."""

    async def seen() -> bool:
        return answered(await stats(emulator), status) > more_than

    assert await wait_until(seen, timeout_s=10, interval_s=0.02), f"no {status} answered"


async def timed_quiz(
    gateway: httpx.AsyncClient, questions_num: int, request_id: str
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await post_quiz(gateway, questions_num, request_id=request_id)
    return response, time.monotonic() - started


async def assert_failed_cleanly(
    stack: LocalStack,
    response: httpx.Response,
    elapsed_s: float,
    *,
    status: int,
    requested: int,
    request_id: str,
    deadline_s: float,
) -> dict[str, Any]:
    """The problem response of a failed ingestion, checked against the database."""
    body = assert_problem(response, status)
    assert body["requested"] == requested, body
    assert elapsed_s <= deadline_s + MARGIN_S, f"took {elapsed_s:.1f} s: {body}"
    own = await quiz_rows(stack.config.env["QUIZ_DATABASE_URL"], request_id)
    assert len(own) == body["stored"], f"problem says {body['stored']} stored, rows: {len(own)}"
    return body


async def assert_healthy_and_consistent(stack: LocalStack) -> None:
    health = await instance_health(stack, "quiz")
    assert set(health.values()) == {200}, health
    for name in stack.service_names:
        assert stack.processes[name].running(), f"{name} exited"
    db_url = stack.config.env["QUIZ_DATABASE_URL"]
    assert await duplicate_upstream_ids(db_url) == []
    blank = await fetch(
        db_url, "SELECT id FROM questions WHERE btrim(question) = '' OR btrim(answer) = ''"
    )
    assert blank == [], f"rows without a question or an answer: {blank}"


async def assert_recovers(stack: LocalStack, gateway: httpx.AsyncClient, questions: int) -> None:
    request_id = new_request_id("recovered")
    response = await post_quiz(gateway, questions, request_id=request_id)
    assert response.status_code == 200, response.text
    own = await quiz_rows(stack.config.env["QUIZ_DATABASE_URL"], request_id)
    assert len(own) == questions


async def test_upstream_down_is_502_then_recovers(
    stack: LocalStack, gateway: httpx.AsyncClient, emulator: httpx.AsyncClient, deadline_s: float
) -> None:
    stopped = False
    try:
        await asyncio.to_thread(stack.stop_service, "emulator")
        stopped = True
        request_id = new_request_id("upstream-down")
        response, elapsed = await timed_quiz(gateway, 3, request_id)
        body = await assert_failed_cleanly(
            stack,
            response,
            elapsed,
            status=502,
            requested=3,
            request_id=request_id,
            deadline_s=deadline_s,
        )
        assert body["stored"] == 0
        await assert_healthy_and_consistent(stack)
    finally:
        if stopped or not stack.processes["emulator"].running():
            await asyncio.to_thread(stack.start_service, "emulator")
    # A new emulator process replays its seeded id sequence from the start.
    await use_fresh_id_pool(emulator)
    await assert_recovers(stack, gateway, 3)


# One second past the 5 s deadline (and the 5 s read timeout): long enough to be abandoned,
# short enough that the abandoned call ends within the test (it is awaited below, so that it
# cannot land in the next test's emulator stats).
SLOW_S = 6


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"latency_ms": SLOW_S * 1000}, id="latency-beyond-deadline"),
        pytest.param({"timeout_rate": 1.0, "timeout_sleep_s": SLOW_S}, id="no-answer"),
    ],
)
async def test_slow_upstream_is_504_within_the_deadline(
    stack: LocalStack,
    gateway: httpx.AsyncClient,
    fresh_ids: httpx.AsyncClient,
    deadline_s: float,
    fault: dict[str, Any],
) -> None:
    await configure(fresh_ids, **fault)
    calls_before = (await stats(fresh_ids))["calls"]
    request_id = new_request_id("upstream-slow")
    response, elapsed = await timed_quiz(gateway, 2, request_id)
    body = await assert_failed_cleanly(
        stack,
        response,
        elapsed,
        status=504,
        requested=2,
        request_id=request_id,
        deadline_s=deadline_s,
    )
    assert body["stored"] == 0
    await assert_healthy_and_consistent(stack)
    await configure(fresh_ids, latency_ms=0, timeout_rate=0.0)

    async def abandoned_call_done() -> bool:
        return bool((await stats(fresh_ids))["calls"] > calls_before)

    assert await wait_until(abandoned_call_done, timeout_s=SLOW_S + MARGIN_S)
    await assert_recovers(stack, gateway, 2)


async def test_5xx_burst_is_502_and_bounded(
    stack: LocalStack, gateway: httpx.AsyncClient, fresh_ids: httpx.AsyncClient, deadline_s: float
) -> None:
    await configure(fresh_ids, error_rate=1.0, error_statuses=[500, 502, 503, 504])
    errors_before = answered(await stats(fresh_ids), 500, 502, 503, 504)
    request_id = new_request_id("upstream-5xx")
    response, elapsed = await timed_quiz(gateway, 4, request_id)
    body = await assert_failed_cleanly(
        stack,
        response,
        elapsed,
        status=502,
        requested=4,
        request_id=request_id,
        deadline_s=deadline_s,
    )
    assert body["stored"] == 0
    calls = answered(await stats(fresh_ids), 500, 502, 503, 504) - errors_before
    # Retried (more than one call), but bounded (QUIZ_UPSTREAM_MAX_ATTEMPTS, default 4).
    assert 2 <= calls <= 4, f"{calls} upstream calls for one failing fetch"
    await assert_healthy_and_consistent(stack)
    await configure(fresh_ids, error_rate=0.0)
    await assert_recovers(stack, gateway, 4)


async def test_5xx_burst_recovers_within_one_request(
    stack: LocalStack, gateway: httpx.AsyncClient, fresh_ids: httpx.AsyncClient
) -> None:
    # Each call takes 0.5 s and fails while the burst lasts; the burst ends once the emulator
    # has answered a 503, so a retry (at most QUIZ_UPSTREAM_MAX_ATTEMPTS) succeeds inside
    # the deadline.
    await configure(fresh_ids, latency_ms=500, error_rate=1.0, error_statuses=[503])
    failed_before = answered(await stats(fresh_ids), 503)
    request_id = new_request_id("upstream-burst")
    request = asyncio.create_task(post_quiz(gateway, 3, request_id=request_id))
    await until_answered(fresh_ids, 503, more_than=failed_before)
    await configure(fresh_ids, error_rate=0.0)
    response = await request
    assert response.status_code == 200, response.text
    assert answered(await stats(fresh_ids), 503) - failed_before >= 1
    assert len(await quiz_rows(stack.config.env["QUIZ_DATABASE_URL"], request_id)) == 3
    await assert_healthy_and_consistent(stack)


async def test_rate_limited_honours_retry_after_then_503(
    stack: LocalStack, gateway: httpx.AsyncClient, fresh_ids: httpx.AsyncClient, deadline_s: float
) -> None:
    # The emulator answers 429 with Retry-After: 1 (Rack::Attack's throttle).
    await configure(fresh_ids, rate_limit_rate=1.0)
    limited_before = answered(await stats(fresh_ids), 429)
    request_id = new_request_id("upstream-429")
    response, elapsed = await timed_quiz(gateway, 2, request_id)
    body = await assert_failed_cleanly(
        stack,
        response,
        elapsed,
        status=503,
        requested=2,
        request_id=request_id,
        deadline_s=deadline_s,
    )
    assert body["stored"] == 0
    assert int(response.headers["Retry-After"]) >= 1
    calls = answered(await stats(fresh_ids), 429) - limited_before
    assert calls >= 2, "a 429 was not retried"
    # Each retry waited the advertised second: no hammering of a rate-limited upstream.
    assert elapsed >= (calls - 1) * 1.0 - 0.1, f"{calls} calls in {elapsed:.2f} s"
    await assert_healthy_and_consistent(stack)


async def test_rate_limit_lifted_during_retry_after_succeeds(
    stack: LocalStack, gateway: httpx.AsyncClient, fresh_ids: httpx.AsyncClient
) -> None:
    await configure(fresh_ids, rate_limit_rate=1.0)
    limited_before = answered(await stats(fresh_ids), 429)
    request_id = new_request_id("upstream-429-lifted")
    started = time.monotonic()
    request = asyncio.create_task(post_quiz(gateway, 2, request_id=request_id))
    # Lifted once the first 429 is out: its Retry-After: 1 leaves a second for it.
    await until_answered(fresh_ids, 429, more_than=limited_before)
    await configure(fresh_ids, rate_limit_rate=0.0)
    response = await request
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    # One 429, then the retry one Retry-After (1 s) later succeeded.
    assert answered(await stats(fresh_ids), 429) - limited_before == 1
    assert elapsed >= 0.95, f"the retry came {elapsed:.2f} s after a 429 with Retry-After: 1"
    assert len(await quiz_rows(stack.config.env["QUIZ_DATABASE_URL"], request_id)) == 2
    await assert_healthy_and_consistent(stack)


@pytest.mark.parametrize("variant", MALFORMED_VARIANTS)
async def test_malformed_upstream_is_502(
    stack: LocalStack,
    gateway: httpx.AsyncClient,
    fresh_ids: httpx.AsyncClient,
    deadline_s: float,
    variant: str,
) -> None:
    await configure(fresh_ids, malformed_rate=1.0, malformed_variants=[variant])
    calls_before = (await stats(fresh_ids))["calls"]
    request_id = new_request_id(f"upstream-{variant}")
    response, elapsed = await timed_quiz(gateway, 3, request_id)
    body = await assert_failed_cleanly(
        stack,
        response,
        elapsed,
        status=502,
        requested=3,
        request_id=request_id,
        deadline_s=deadline_s,
    )
    assert body["stored"] == 0
    assert (await stats(fresh_ids))["calls"] - calls_before >= 2, "malformed data not retried"
    await assert_healthy_and_consistent(stack)
    await configure(fresh_ids, malformed_rate=0.0)
    await assert_recovers(stack, gateway, 3)


async def test_pool_that_runs_dry_is_503_with_what_was_stored(
    stack: LocalStack, gateway: httpx.AsyncClient, emulator: httpx.AsyncClient, deadline_s: float
) -> None:
    pool_size = 4
    db_url = stack.config.env["QUIZ_DATABASE_URL"]
    pool = {str(i) for i in range(1, pool_size + 1)}
    already = {row["upstream_id"] for row in await quiz_rows(db_url)} & pool
    await configure(emulator, pool_size=pool_size)
    requested = pool_size + 3
    request_id = new_request_id("upstream-dry")
    response, elapsed = await timed_quiz(gateway, requested, request_id)
    body = await assert_failed_cleanly(
        stack,
        response,
        elapsed,
        status=503,
        requested=requested,
        request_id=request_id,
        deadline_s=deadline_s,
    )
    # Every id of the pool that was not stored yet is stored now, and nothing else.
    own = await quiz_rows(db_url, request_id)
    assert {row["upstream_id"] for row in own} == pool - already
    assert body["stored"] == len(pool - already)
    await assert_healthy_and_consistent(stack)
    # Asking again stores nothing more: every id of the pool is there.
    again_id = new_request_id("upstream-dry-again")
    again, elapsed = await timed_quiz(gateway, 1, again_id)
    again_body = await assert_failed_cleanly(
        stack, again, elapsed, status=503, requested=1, request_id=again_id, deadline_s=deadline_s
    )
    assert again_body["stored"] == 0
    await assert_healthy_and_consistent(stack)
