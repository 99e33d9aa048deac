"""The error model and the request transaction boundary, on a tiny app built like the services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from shared.app import create_service_app
from shared.db import DbSession
from shared.errors import Conflict
from shared.settings import ServiceSettings
from shared.testing import running_app, temporary_database

router = APIRouter()


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    count: int


@router.post("/items")
async def create_item(payload: Payload, session: DbSession) -> dict[str, int]:
    await session.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": payload.count})
    if payload.count == 13:
        raise Conflict("thirteen is taken", count=13)
    if payload.count == 66:
        raise RuntimeError("secret internal detail")
    return {"count": payload.count}


@router.get("/items/count")
async def count_items(session: DbSession) -> dict[str, int]:
    return {"count": (await session.execute(text("SELECT count(*) FROM items"))).scalar_one()}


class Settings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///:memory:"


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with temporary_database("test_shared") as url:
        app = create_service_app(
            name="shared_test",
            title="t",
            description="t",
            version="0",
            settings=Settings(database_url=url),
            routers=[router],
        )
        async with running_app(app) as client:
            async with app.state.database.engine.begin() as connection:
                await connection.execute(text("CREATE TABLE items (n integer)"))
            yield client


async def _count(client: httpx.AsyncClient) -> int:
    response = await client.get("/items/count")
    assert response.status_code == 200
    count: int = response.json()["count"]
    return count


async def test_success_commits(client: httpx.AsyncClient) -> None:
    before = await _count(client)
    response = await client.post("/items", json={"count": 1})
    assert response.status_code == 200
    assert await _count(client) == before + 1


async def test_domain_error_rolls_back_and_renders_problem(client: httpx.AsyncClient) -> None:
    before = await _count(client)
    response = await client.post("/items", json={"count": 13})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://problems.quiz-audio.dev/conflict"
    assert body["detail"] == "thirteen is taken"
    assert body["count"] == 13
    assert body["request_id"] == response.headers["x-request-id"]
    assert await _count(client) == before


async def test_unexpected_error_is_500_without_trace_and_rolls_back(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    before = await _count(client)
    with caplog.at_level(logging.ERROR, logger="errors"):
        response = await client.post("/items", json={"count": 66})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert any(record.exc_info for record in caplog.records), "the traceback must be logged"
    assert await _count(client) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"count": "5"}, "body.count"),
        ({"count": 1.5}, "body.count"),
        ({}, "body.count"),
        ({"count": 1, "extra": 2}, "body.extra"),
    ],
)
async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/items", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert field in [error["field"] for error in problem["errors"]]
    assert field in problem["detail"]


async def test_invalid_json_is_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/items")
    assert response.status_code == 405
    assert response.json()["type"].endswith("/method-not-allowed")
