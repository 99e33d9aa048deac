"""Checks for many concurrent POST /quiz: no duplicate, no 5xx, honest answers."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from quiz_service.tests.support import stored_questions

REQUESTS = 100
PER_REQUEST = 5


async def run_concurrently(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    async def one(index: int) -> tuple[str, httpx.Response]:
        request_id = f"concurrent-{index}"
        response = await client.post(
            "/quiz", json={"questions_num": PER_REQUEST}, headers={"X-Request-ID": request_id}
        )
        return request_id, response

    return dict(await asyncio.gather(*(one(index) for index in range(REQUESTS))))


async def assert_consistent(
    responses: dict[str, httpx.Response], engine: AsyncEngine, *, expected_rows: int
) -> None:
    assert {response.status_code for response in responses.values()} == {200}
    rows = await stored_questions(engine)
    assert len(rows) == expected_rows
    assert len({row.upstream_id for row in rows}) == expected_rows
    own_ids: dict[str, list[int]] = {}
    for row in rows:
        assert row.request_id is not None
        own_ids.setdefault(row.request_id, []).append(row.id)
    request_of = {row.id: row.request_id for row in rows}
    for request_id, response in responses.items():
        mine = own_ids[request_id]
        assert len(mine) == PER_REQUEST
        answer = response.json()
        if answer == {}:
            continue
        # Stored before this request stored its own, and by someone else.
        assert answer["id"] < min(mine)
        assert request_of[answer["id"]] != request_id
    assert sum(response.json() == {} for response in responses.values()) >= 1
