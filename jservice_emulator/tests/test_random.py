"""``GET /api/random``: jservice's count rules, distinct ids, repeats and latency."""

from __future__ import annotations

import time

import pytest

from jservice_emulator.tests import emulator, fetch


async def test_count_defaults_to_one() -> None:
    async with emulator() as client:
        response = await fetch(client)
    assert response.status_code == 200
    assert len(response.json()) == 1


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, 0), (1, 1), (7, 7), ("007", 7), (100, 100), (101, 100), (5000, 100), ("9" * 5000, 100)],
)
async def test_count_is_capped_at_100(count: int | str, expected: int) -> None:
    async with emulator() as client:
        response = await fetch(client, count)
    assert response.status_code == 200
    assert len(response.json()) == expected


@pytest.mark.parametrize("count", ["abc", "-1", "1.5", "", " ", "1e2", "0x10"])
async def test_bad_count_is_a_400_problem(count: str) -> None:
    # Deliberately nicer than jservice, which answered 500 here.
    async with emulator() as client:
        response = await fetch(client, count)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400
    assert "count" in body["detail"]


async def test_ids_are_distinct_within_a_response() -> None:
    async with emulator(pool_size=150) as client:
        for _ in range(10):
            ids = [item["id"] for item in (await fetch(client, 100)).json()]
            assert len(set(ids)) == 100
            assert all(1 <= clue_id <= 150 for clue_id in ids)


async def test_small_pool_forces_repeats_across_calls() -> None:
    async with emulator(pool_size=10) as client:
        first = {item["id"] for item in (await fetch(client, 10)).json()}
        second = {item["id"] for item in (await fetch(client, 10)).json()}
        capped = (await fetch(client, 50)).json()
    assert first == second == set(range(1, 11))
    # Like LIMIT over a small table: fewer rows, never repeated ones.
    assert sorted(item["id"] for item in capped) == list(range(1, 11))


async def test_duplicate_rate_is_roughly_honoured() -> None:
    async with emulator(duplicate_rate=0.3, seed=5) as client:
        seen = {item["id"] for item in (await fetch(client, 100)).json()}
        ratios = []
        for _ in range(20):
            ids = [item["id"] for item in (await fetch(client, 100)).json()]
            assert len(set(ids)) == 100
            ratios.append(sum(clue_id in seen for clue_id in ids) / len(ids))
            seen.update(ids)
    assert 0.25 <= sum(ratios) / len(ratios) <= 0.35


async def test_duplicate_rate_with_count_one_averages_out() -> None:
    async with emulator(duplicate_rate=0.5, seed=2) as client:
        seen = {item["id"] for item in (await fetch(client, 10)).json()}
        repeats = 0
        for _ in range(200):
            (item,) = (await fetch(client, 1)).json()
            repeats += item["id"] in seen
            seen.add(item["id"])
    assert 70 <= repeats <= 130


async def test_duplicate_rate_with_a_pool_running_dry_keeps_responses_full() -> None:
    async with emulator(duplicate_rate=0.1, pool_size=120) as client:
        for _ in range(5):
            ids = [item["id"] for item in (await fetch(client, 100)).json()]
            assert len(set(ids)) == 100


async def test_latency_is_applied() -> None:
    async with emulator(latency_ms=60) as client:
        started = time.perf_counter()
        response = await fetch(client, 2)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.06


async def test_shrinking_the_pool_keeps_repeats_inside_it() -> None:
    async with emulator(pool_size=1000, duplicate_rate=1.0) as client:
        await fetch(client, 100)
        await client.put("/_control/config", json={"pool_size": 20})
        for _ in range(3):
            ids = [item["id"] for item in (await fetch(client, 20)).json()]
            assert sorted(ids) == list(range(1, 21))
