"""POST /user: names, tokens, and what is stored."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import unicodedata
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from audio_service.models import User
from audio_service.settings import AudioSettings
from testkit.audio import create_user
from testkit.problems import assert_problem


async def test_create_user_returns_id_and_uuid4_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/user", json={"name": "Grace Hopper"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"user_id", "name", "token"}
    assert isinstance(body["user_id"], int)
    assert body["name"] == "Grace Hopper"
    assert uuid.UUID(body["token"]).version == 4


async def test_only_an_hmac_of_the_token_is_stored(
    client: httpx.AsyncClient, db_engine: AsyncEngine, settings: AudioSettings
) -> None:
    created = await create_user(client, "Ada")
    async with AsyncSession(db_engine) as session:
        stored = (await session.execute(select(User))).scalar_one()
    secret = settings.token_secret.get_secret_value().encode()
    assert stored.token_hash == hmac.new(secret, created.token.encode(), hashlib.sha256).digest()
    assert created.token.encode() not in stored.token_hash


async def test_each_user_gets_its_own_id_and_token(client: httpx.AsyncClient) -> None:
    first = await create_user(client, "one")
    second = await create_user(client, "two")
    assert first.user_id != second.user_id
    assert first.token != second.token


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Bob  ", "Bob"),
        ("\u3000\u00a0Wide spaces\u2003 ", "Wide spaces"),
        ("\ufeffBOM", "BOM"),
        ("Zoë 🎵 Ünïcode", "Zoë 🎵 Ünïcode"),
        ("x" * 100, "x" * 100),
        ("a", "a"),
        ("with  inner   spaces", "with  inner   spaces"),
        ("e\u0301", "\u00e9"),  # stored NFC
    ],
)
async def test_names_are_trimmed_and_normalised(
    client: httpx.AsyncClient, raw: str, stored: str
) -> None:
    response = await client.post("/user", json={"name": raw})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == stored


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "\n\t",
        "x" * 101,
        "a\x00b",
        "line\nbreak",
        "tab\tinside",
        "del\x7f",
        "c1\x85control",
        "esc\x1b[31m",
        "para\u2029graph",
        "\tTabbed",
        "trailing newline\n",
        "\u2028",
        "\ufeff",
    ],
)
async def test_bad_names_are_422(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/user", json={"name": name})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body.name"


@pytest.mark.parametrize(
    "body",
    [{}, {"name": None}, {"name": 42}, {"name": "ok", "extra": 1}, ["name"]],
)
async def test_malformed_bodies_are_422(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/user", json=body)
    assert response.status_code == 422


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/user", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize("second", ["Ada", "  Ada ", unicodedata.normalize("NFD", "Adà")])
async def test_a_taken_name_is_409(client: httpx.AsyncClient, second: str) -> None:
    first = "Adà" if "a\u0300" in second else "Ada"
    await create_user(client, first)
    response = await client.post("/user", json={"name": second})
    assert response.status_code == 409
    body = response.json()
    assert body["type"].endswith("/conflict")
    assert "taken" in body["detail"]


async def test_names_are_case_sensitive(client: httpx.AsyncClient) -> None:
    await create_user(client, "ada")
    assert (await client.post("/user", json={"name": "ADA"})).status_code == 201


async def test_an_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/user", json={"name": "x" * 20_000})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_concurrent_creates_of_one_name_make_one_user(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/user", json={"name": "Racer"}) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7


async def test_a_repeated_json_key_is_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/user", content=b'{"name": "a", "name": "b"}', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, slug="validation-error")
    assert [error["field"] for error in body["errors"]] == ["body.name"]
    assert "body.name" in body["detail"]
