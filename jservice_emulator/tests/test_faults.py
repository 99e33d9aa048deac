"""Each fault at rate 1.0 does what its name says."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from jservice_emulator.settings import ALL_MALFORMED_VARIANTS, MalformedVariant
from jservice_emulator.tests import emulator, fetch
from testkit.jservice_contract import clue_problems as shape_problems


async def test_rate_limit_answers_429_like_rack_attack() -> None:
    async with emulator(rate_limit_rate=1.0) as client:
        response = await fetch(client, 5)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.text.strip() == "Retry later"


async def test_error_rate_answers_5xx() -> None:
    async with emulator(error_rate=1.0) as client:
        statuses = {(await fetch(client, 3)).status_code for _ in range(40)}
    assert statuses == {500, 502, 503}


async def test_error_statuses_can_be_narrowed() -> None:
    async with emulator(error_rate=1.0, error_statuses=[502]) as client:
        response = await fetch(client)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")


def _is_valid_jservice_body(text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, list) and all(shape_problems(item) == [] for item in body)


@pytest.mark.parametrize("variant", ALL_MALFORMED_VARIANTS)
async def test_each_malformed_variant_is_unusable(variant: MalformedVariant) -> None:
    async with emulator(malformed_rate=1.0, malformed_variants=[variant]) as client:
        responses = [await fetch(client, count) for count in (0, 1, 3, 10)]
    for response in responses:
        assert response.status_code == 200
        assert not _is_valid_jservice_body(response.text), response.text


async def test_malformed_variants_differ_in_kind() -> None:
    async with emulator(malformed_rate=1.0, malformed_variants=["missing_fields"]) as client:
        missing = (await fetch(client, 10)).json()
    async with emulator(malformed_rate=1.0, malformed_variants=["wrong_types"]) as client:
        wrong = (await fetch(client, 10)).json()
    assert all(any("keys differ" in p for p in shape_problems(item)) for item in missing)
    assert all(shape_problems(item) for item in wrong)
    assert not any("keys differ" in p for item in wrong for p in shape_problems(item))


async def test_malformed_mix_never_looks_valid() -> None:
    async with emulator(malformed_rate=1.0, seed=9) as client:
        bodies = [(await fetch(client, 4)).text for _ in range(30)]
    assert not any(_is_valid_jservice_body(body) for body in bodies)


async def test_timeout_mode_sleeps_then_answers() -> None:
    async with emulator(timeout_rate=1.0, timeout_sleep_s=0.05) as client:
        started = time.perf_counter()
        response = await fetch(client, 2)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert len(response.json()) == 2
    assert elapsed >= 0.05


async def test_timeout_mode_outlasts_a_client_timeout() -> None:
    async with emulator(timeout_rate=1.0, timeout_sleep_s=30) as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(fetch(client, 1), timeout=0.05)
