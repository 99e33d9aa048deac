"""GET /quiz/questions (keyset pagination) and GET /quiz/questions/{id}."""

from __future__ import annotations

import httpx
import respx

from quiz_service.tests.fakes import UPSTREAM_URL, clues


async def store(client: httpx.AsyncClient, upstream: respx.MockRouter, n: int) -> None:
    upstream.get(UPSTREAM_URL).respond(200, json=clues(range(1, n + 1)))
    assert (await client.post("/quiz", json={"questions_num": n})).status_code == 200


async def test_pages_newest_first_until_the_end(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    await store(client, upstream, 7)
    seen: list[int] = []
    before_id: int | None = None
    pages = 0
    while True:
        params: dict[str, int] = {"limit": 3}
        if before_id is not None:
            params["before_id"] = before_id
        response = await client.get("/quiz/questions", params=params)
        assert response.status_code == 200
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        before_id = page["next_before_id"]
        if before_id is None:
            break
    assert pages == 3
    assert len(seen) == 7
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 7


async def test_exact_page_has_no_next(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    await store(client, upstream, 3)
    page = (await client.get("/quiz/questions", params={"limit": 3})).json()
    assert len(page["items"]) == 3
    assert page["next_before_id"] is None


async def test_empty_table(client: httpx.AsyncClient) -> None:
    response = await client.get("/quiz/questions")
    assert response.json() == {"items": [], "next_before_id": None}


async def test_bad_page_parameters(client: httpx.AsyncClient) -> None:
    for params in ({"limit": 0}, {"limit": 101}, {"before_id": 0}, {"before_id": "x"}):
        response = await client.get("/quiz/questions", params=params)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"].startswith("query.")


async def test_get_one_and_404(client: httpx.AsyncClient, upstream: respx.MockRouter) -> None:
    await store(client, upstream, 1)
    newest = (await client.get("/quiz/questions", params={"limit": 1})).json()["items"][0]
    detail = (await client.get(f"/quiz/questions/{newest['id']}")).json()
    assert {key: detail[key] for key in newest} == newest
    assert detail["raw"]["id"] == 1

    missing = await client.get(f"/quiz/questions/{newest['id'] + 1}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["title"] == "Not Found"


async def test_ids_beyond_bigint_are_422_not_500(client: httpx.AsyncClient) -> None:
    assert (await client.get("/quiz/questions/99999999999999999999")).status_code == 422
    assert (await client.get("/quiz/questions/abc")).status_code == 422
    response = await client.get("/quiz/questions", params={"before_id": 2**63})
    assert response.status_code == 422
