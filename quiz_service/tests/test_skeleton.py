"""The frame every quiz endpoint relies on: health, readiness, the problem shape."""

from __future__ import annotations

import httpx

from quiz_service.main import create_app
from quiz_service.settings import QuizSettings
from testkit.apps import running_app


async def test_health_needs_no_database() -> None:
    app = create_app(QuizSettings(database_url="postgresql://postgres@127.0.0.1:1/none"))
    async with running_app(app) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok"}


async def test_ready_is_503_problem_when_database_is_down() -> None:
    app = create_app(
        QuizSettings(database_url="postgresql://postgres@127.0.0.1:1/none", db_connect_timeout_s=1)
    )
    async with running_app(app) as client:
        response = await client.get("/ready", headers={"X-Request-ID": "ready-check-1"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/service-unavailable")
    assert body["status"] == 503
    assert body["request_id"] == "ready-check-1"
    assert "Traceback" not in response.text


async def test_unknown_path_is_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Not Found"
    assert body["instance"] == "/no/such/thing"
    assert response.headers["x-request-id"] == body["request_id"]


async def test_invalid_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "bad id\nwith newline"})
    assert response.headers["x-request-id"] != "bad id\nwith newline"
    assert len(response.headers["x-request-id"]) == 32


async def test_docs_follow_the_gateway_prefix(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs", headers={"X-Forwarded-Prefix": "/services/quiz"})
    assert response.status_code == 200
    assert "/services/quiz/openapi.json" in response.text
    assert (await client.get("/openapi.json")).status_code == 200
