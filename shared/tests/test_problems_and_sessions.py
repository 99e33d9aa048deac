"""The error model and the unit of work, on a tiny app built like the services."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from shared.app import create_service_app
from shared.db import Database
from shared.errors import Conflict
from shared.resources import resources_dependency
from shared.settings import ServiceSettings
from testkit.apps import running_app
from testkit.postgres import temporary_database
from testkit.problems import assert_problem

router = APIRouter()


class Settings(ServiceSettings):
    database_url: str = "sqlite+aiosqlite:///:memory:"


@dataclass(frozen=True, slots=True)
class FrameResources:
    settings: Settings
    database: Database
    held: asyncio.Event
    release: asyncio.Event


@asynccontextmanager
async def open_resources(settings: Settings, database: Database) -> AsyncIterator[FrameResources]:
    yield FrameResources(
        settings=settings, database=database, held=asyncio.Event(), release=asyncio.Event()
    )


Resources = Annotated[FrameResources, Depends(resources_dependency(FrameResources))]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    count: int


@router.post("/items")
async def create_item(payload: Payload, resources: Resources) -> dict[str, int]:
    async with resources.database.unit_of_work() as session:
        await session.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": payload.count})
        if payload.count == 13:
            raise Conflict("thirteen is taken", count=13)
        if payload.count == 66:
            raise RuntimeError("secret internal detail")
    return {"count": payload.count}


@router.get("/items/count")
async def count_items(resources: Resources) -> dict[str, int]:
    async with resources.database.unit_of_work() as session:
        return {"count": (await session.execute(text("SELECT count(*) FROM items"))).scalar_one()}


NOT_FROM_THE_DATABASE: dict[str, type[Exception]] = {
    "timeout": TimeoutError,
    "connection": ConnectionRefusedError,
    "dns": socket.gaierror,
}


@router.get("/raise/{kind}")
async def raise_builtin(kind: str, resources: Resources) -> None:
    async with resources.database.unit_of_work():
        # Raised inside a unit of work, but by our own code, not by the driver.
        raise NOT_FROM_THE_DATABASE[kind]("not the database")


@router.get("/terminated")
async def terminated(resources: Resources) -> None:
    async with resources.database.unit_of_work() as session:
        # The server ends this very connection (SQLSTATE 57P01), as on a shutdown.
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


@router.get("/wrong-sql")
async def wrong_sql(resources: Resources) -> None:
    async with resources.database.unit_of_work() as session:
        await session.execute(text("SELEC 1"))


@router.get("/hold")
async def hold(resources: Resources) -> dict[str, str]:
    async with resources.database.unit_of_work() as session:
        await session.execute(text("SELECT 1"))
        resources.held.set()
        await resources.release.wait()
    return {"held": "released"}


def frame_app(settings: Settings) -> FastAPI:
    return create_service_app(
        "shared_test", "t", settings, router, partial(open_resources, settings)
    )


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    async with temporary_database("test_shared") as url:
        yield url


@pytest.fixture(scope="module")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = frame_app(Settings(database_url=database_url))
    async with running_app(app) as client:
        async with app.state.resources.database.engine.begin() as connection:
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
    assert_problem(response, 409, slug="conflict", detail="thirteen is taken", count=13)
    assert await _count(client) == before


async def test_unexpected_error_is_500_without_trace_and_rolls_back(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    before = await _count(client)
    with caplog.at_level(logging.ERROR, logger="errors"):
        response = await client.post("/items", json={"count": 66})
    assert_problem(response, 500, slug="internal-error")
    assert "secret internal detail" not in response.text
    assert any(record.exc_info for record in caplog.records), "the traceback must be logged"
    assert await _count(client) == before


@pytest.mark.parametrize("kind", sorted(NOT_FROM_THE_DATABASE))
async def test_builtin_network_errors_of_our_code_are_logged_500s(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    """TimeoutError, ConnectionError and gaierror are not "the database is unavailable"
    unless the database layer says so: from anywhere else they are bugs."""
    with caplog.at_level(logging.ERROR, logger="errors"):
        response = await client.get(f"/raise/{kind}")
    assert_problem(response, 500, slug="internal-error")
    logged = [record for record in caplog.records if record.exc_info]
    assert logged, "the traceback must be logged"
    exc_info = logged[-1].exc_info
    assert exc_info is not None
    assert isinstance(exc_info[1], NOT_FROM_THE_DATABASE[kind])


async def test_a_connection_the_server_ends_is_503(client: httpx.AsyncClient) -> None:
    response = await client.get("/terminated")
    assert_problem(response, 503, slug="service-unavailable")
    assert (await client.get("/items/count")).status_code == 200, "the pool recovers"


async def test_a_wrong_statement_is_a_500_not_a_503(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/wrong-sql"), 500, slug="internal-error")


async def test_an_unreachable_database_is_503() -> None:
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/none")
    async with running_app(frame_app(settings)) as client:
        response = await client.get("/items/count")
    body = assert_problem(response, 503, slug="service-unavailable")
    assert body["detail"] == "The database is unavailable; retry later."


async def test_no_free_pooled_connection_is_503(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=0.2
    )
    app = frame_app(settings)
    async with running_app(app) as client:
        resources: FrameResources = app.state.resources
        holder = asyncio.create_task(client.get("/hold"))
        await resources.held.wait()
        waiting = await client.get("/items/count")
        resources.release.set()
        assert (await holder).json() == {"held": "released"}
    assert_problem(waiting, 503, slug="service-unavailable")


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
    problem = assert_problem(await client.post("/items", json=body), 422, slug="validation-error")
    assert field in [error["field"] for error in problem["errors"]]
    assert field in problem["detail"]


async def test_invalid_json_is_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, slug="validation-error")


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/items"), 405, slug="method-not-allowed")


@pytest.mark.parametrize(
    ("headers", "client_address"),
    [
        ({"X-Real-IP": "203.0.113.7", "X-Forwarded-For": "198.51.100.9"}, "203.0.113.7"),
        ({"X-Real-IP": "2001:db8::7"}, "2001:db8::7"),
        ({"X-Forwarded-For": "198.51.100.9"}, "127.0.0.1"),
        ({"X-Real-IP": "not-an-address", "X-Forwarded-For": "198.51.100.9"}, "127.0.0.1"),
    ],
)
async def test_the_access_log_names_the_address_the_gateway_saw(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    client_address: str,
) -> None:
    """X-Real-IP is set (and a client's own one cleared) by the gateway; X-Forwarded-For is
    whatever the client wrote, so it is never taken as the client's address."""
    with caplog.at_level(logging.INFO, logger="access"):
        assert (await client.get("/health", headers=headers)).status_code == 200
    (access,) = [record for record in caplog.records if record.name == "access"]
    fields = access.__dict__["fields"]
    assert fields["client"] == client_address
    assert (fields["status"], fields["complete"], fields["bytes"]) == (200, True, 15)
