"""Bad input to POST /quiz: always a 422 problem naming the field, never an upstream call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from quiz_service.tests.fakes import UPSTREAM_URL, clues
from quiz_service.tests.support import ClientFactory
from testkit.problems import assert_problem


def assert_422(response: httpx.Response, field: str, error_type: str) -> None:
    body = assert_problem(response, 422, slug="validation-error")
    assert (field, error_type) in {(e["field"], e["type"]) for e in body["errors"]}, body
    assert field in body["detail"]


@pytest.mark.parametrize(
    ("payload", "field", "error_type"),
    [
        ({"questions_num": -1}, "body.questions_num", "greater_than_equal"),
        ({"questions_num": 2.0}, "body.questions_num", "int_type"),
        ({"questions_num": 2.5}, "body.questions_num", "int_type"),
        ({"questions_num": "5"}, "body.questions_num", "int_type"),
        ({"questions_num": True}, "body.questions_num", "int_type"),
        ({"questions_num": None}, "body.questions_num", "int_type"),
        ({"questions_num": {"value": 5}}, "body.questions_num", "int_type"),
        ({"questions_num": [5]}, "body.questions_num", "int_type"),
        ({}, "body.questions_num", "missing"),
        ({"questions": 5}, "body.questions_num", "missing"),
        ({"data": {"questions_num": 5}}, "body.questions_num", "missing"),
        ({"questions_num": 101}, "body.questions_num", "less_than_equal"),
        ({"questions_num": 10**30}, "body.questions_num", "less_than_equal"),
        ({"questions_num": 5, "extra": 1}, "body.extra", "extra_forbidden"),
        ([{"questions_num": 5}], "body", "model_attributes_type"),
        (5, "body", "model_attributes_type"),
        ("questions_num", "body", "model_attributes_type"),
    ],
    ids=[
        "negative",
        "float-integral",
        "float",
        "string",
        "boolean",
        "null",
        "object",
        "array-value",
        "empty-object",
        "missing-key",
        "nested",
        "above-max",
        "huge",
        "unknown-key",
        "array-body",
        "number-body",
        "string-body",
    ],
)
async def test_bad_payload(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    payload: Any,
    field: str,
    error_type: str,
) -> None:
    route = upstream.get(UPSTREAM_URL).respond(200, json=clues([1]))
    assert_422(await client.post("/quiz", json=payload), field, error_type)
    assert route.call_count == 0


@pytest.mark.parametrize(
    "content", [b'{"questions_num": 5', b"questions_num=5", b"", b'{"questions_num": NaN}']
)
async def test_invalid_json(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        "/quiz", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert all(e["field"].startswith("body") for e in response.json()["errors"])


async def test_maximum_is_a_setting(make_client: ClientFactory, upstream: respx.MockRouter) -> None:
    upstream.get(UPSTREAM_URL).respond(200, json=clues([1, 2, 3]))
    async with make_client(max_questions_num=2) as client:
        assert_422(
            await client.post("/quiz", json={"questions_num": 3}),
            "body.questions_num",
            "less_than_equal",
        )
        assert (await client.post("/quiz", json={"questions_num": 2})).status_code == 200
        schema = (await client.get("/openapi.json")).json()
    questions_num = schema["components"]["schemas"]["QuizRequest"]["properties"]["questions_num"]
    assert questions_num["maximum"] == 2
    assert questions_num["minimum"] == 0


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"questions_num": 1, "questions_num": 100}', "questions_num"),
        (b'{"questions_num": 100, "questions_num": 1}', "questions_num"),
        (b'{"questions_num": 1, "x": {"a": 1, "a": 2}}', "a"),
    ],
)
async def test_a_repeated_json_key_is_422_naming_it(
    client: httpx.AsyncClient, upstream: respx.MockRouter, raw: bytes, key: str
) -> None:
    route = upstream.get(UPSTREAM_URL).respond(200, json=clues(range(1, 101)))
    response = await client.post("/quiz", content=raw, headers={"content-type": "application/json"})
    body = assert_problem(response, 422, slug="validation-error")
    assert {
        "field": f"body.{key}",
        "message": "Key given more than once",
        "type": "duplicate_key",
    } in body["errors"]
    assert route.call_count == 0
