"""GET /user/{id}/records and DELETE /record: a user's own records, with the token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from audio_service.tests.conftest import RowCounts
from testkit.audio import AudioUser, bearer_header, create_user, upload


async def test_list_shows_the_users_records_newest_first(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    other = await create_user(client, "Other")
    uploaded = [
        (await upload(client, user, tone_wav, filename=f"{n}.wav")).json() for n in range(3)
    ]
    await upload(client, other, tone_wav)

    response = await client.get(f"/user/{user.user_id}/records", headers=bearer_header(user))
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 3
    assert (page["limit"], page["offset"]) == (50, 0)
    assert [item["record_id"] for item in page["items"]] == [
        body["record_id"] for body in reversed(uploaded)
    ]
    assert page["items"][0] == uploaded[-1]

    second = await client.get(
        f"/user/{user.user_id}/records",
        params={"limit": 1, "offset": 1},
        headers=bearer_header(user),
    )
    assert [item["record_id"] for item in second.json()["items"]] == [uploaded[1]["record_id"]]


async def test_list_of_a_user_without_records_is_empty(
    client: httpx.AsyncClient, user: AudioUser
) -> None:
    response = await client.get(f"/user/{user.user_id}/records", headers=bearer_header(user))
    assert response.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize("case", ["none", "other_user", "unknown_user", "garbage"])
async def test_list_needs_the_owners_token(
    client: httpx.AsyncClient, user: AudioUser, case: str
) -> None:
    other = await create_user(client, "Other")
    path, headers = f"/user/{user.user_id}/records", {}
    if case == "other_user":
        headers = bearer_header(other)
    elif case == "unknown_user":
        path, headers = f"/user/{other.user_id + 10}/records", bearer_header(other)
    elif case == "garbage":
        headers = {"Authorization": "Bearer garbage"}
    response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "Missing or invalid token for this user."


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"limit": "x"}]
)
async def test_list_paging_is_validated(
    client: httpx.AsyncClient, user: AudioUser, query: dict[str, str]
) -> None:
    response = await client.get(
        f"/user/{user.user_id}/records", params=query, headers=bearer_header(user)
    )
    assert response.status_code == 422


async def test_delete_removes_the_record_and_its_bytes(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path, row_counts: RowCounts
) -> None:
    kept = (await upload(client, user, tone_wav)).json()
    doomed = (await upload(client, user, tone_wav)).json()
    before = await row_counts()

    query = {"id": doomed["record_id"], "user": str(user.user_id)}
    response = await client.delete("/record", params=query, headers=bearer_header(user))
    assert response.status_code == 204
    assert response.content == b""

    assert (await client.get(doomed["url"])).status_code == 404
    assert (await client.get(kept["url"])).status_code == 200
    after = await row_counts()
    assert after["records"] == before["records"] - 1
    assert after["record_chunks"] < before["record_chunks"]
    assert after["record_peaks"] == before["record_peaks"] - 1
    listed = await client.get(f"/user/{user.user_id}/records", headers=bearer_header(user))
    assert [item["record_id"] for item in listed.json()["items"]] == [kept["record_id"]]

    again = await client.delete("/record", params=query, headers=bearer_header(user))
    assert again.status_code == 404


async def test_delete_needs_the_owners_token(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path, row_counts: RowCounts
) -> None:
    other = await create_user(client, "Other")
    record = (await upload(client, user, tone_wav)).json()
    before = await row_counts()
    query = {"id": record["record_id"], "user": str(user.user_id)}

    assert (await client.delete("/record", params=query)).status_code == 401
    assert (
        await client.delete("/record", params=query, headers=bearer_header(other))
    ).status_code == 401
    # Authenticated as themselves, the other user still cannot reach it: 404, not 403.
    theirs = {"id": record["record_id"], "user": str(other.user_id)}
    assert (
        await client.delete("/record", params=theirs, headers=bearer_header(other))
    ).status_code == 404
    assert await row_counts() == before
    assert (await client.get(record["url"])).status_code == 200


async def test_delete_with_a_malformed_id_is_422(
    client: httpx.AsyncClient, user: AudioUser
) -> None:
    response = await client.delete(
        "/record", params={"id": "nope", "user": str(user.user_id)}, headers=bearer_header(user)
    )
    assert response.status_code == 422
