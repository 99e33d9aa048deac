"""The ``/_control`` API: read, patch and reset the settings; read the counters."""

from __future__ import annotations

import httpx
import pytest

from jservice_emulator import create_app
from jservice_emulator.tests import emulator, fetch


async def test_health() -> None:
    async with emulator() as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_config_shows_the_startup_settings() -> None:
    async with emulator(pool_size=42, seed=3) as client:
        config = (await client.get("/_control/config")).json()
    assert config["pool_size"] == 42
    assert config["seed"] == 3
    assert config["error_rate"] == 0.0
    assert config["timeout_sleep_s"] == 30.0
    assert config["duplicate_rate"] == 0.0


async def test_put_patches_only_what_it_names() -> None:
    async with emulator() as client:
        response = await client.put(
            "/_control/config", json={"pool_size": 3, "rate_limit_rate": 1.0, "latency_ms": 5}
        )
        assert response.status_code == 200
        assert (await fetch(client, 2)).status_code == 429
        await client.put("/_control/config", json={"rate_limit_rate": 0.0})
        ids = {item["id"] for item in (await fetch(client, 100)).json()}
        config = (await client.get("/_control/config")).json()
    assert ids == {1, 2, 3}
    assert config["pool_size"] == 3
    assert config["latency_ms"] == 5.0
    assert config["quirk_rate"] == 0.02


async def test_put_rejects_bad_values_and_leaves_config_alone() -> None:
    async with emulator() as client:
        before = (await client.get("/_control/config")).json()
        bad_bodies: list[dict[str, object]] = [
            {"error_rate": 1.5},
            {"pool_size": 0},
            {"seed": 2},
            {"no_such_setting": True},
            {"malformed_variants": []},
            {"error_statuses": [404]},
        ]
        for body in bad_bodies:
            response = await client.put("/_control/config", json=body)
            assert response.status_code == 422, body
        after = (await client.get("/_control/config")).json()
    assert after == before


async def test_stats_count_calls_items_and_statuses() -> None:
    async with emulator() as client:
        await fetch(client, 5)
        await fetch(client, 3)
        await fetch(client, "bad")
        await client.put("/_control/config", json={"rate_limit_rate": 1.0})
        await fetch(client, 5)
        stats = (await client.get("/_control/stats")).json()
    assert stats["calls"] == 4
    assert stats["items_served"] == 8
    assert stats["status_counts"] == {"200": 2, "400": 1, "429": 1}


async def test_reset_restores_settings_and_forgets_served_ids() -> None:
    async with emulator(pool_size=1000, duplicate_rate=1.0) as client:
        await fetch(client, 10)
        await client.put("/_control/config", json={"pool_size": 5, "error_rate": 1.0})
        response = await client.post("/_control/reset")
        assert response.status_code == 200
        assert response.json()["pool_size"] == 1000
        stats = (await client.get("/_control/stats")).json()
        # With nothing remembered, even duplicate_rate=1.0 can only serve fresh ids.
        first = (await fetch(client, 10)).json()
        second = {item["id"] for item in (await fetch(client, 10)).json()}
    assert stats == {"calls": 0, "items_served": 0, "unique_ids_served": 0, "status_counts": {}}
    assert len(first) == 10
    assert second == {item["id"] for item in first}


async def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMULATOR_POOL_SIZE", "7")
    monkeypatch.setenv("EMULATOR_ERROR_STATUSES", "[503]")
    monkeypatch.setenv("EMULATOR_DUPLICATE_RATE", "0.25")
    app = create_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jservice.test") as client:
        config = (await client.get("/_control/config")).json()
    assert config["pool_size"] == 7
    assert config["error_statuses"] == [503]
    assert config["duplicate_rate"] == 0.25
