"""Who may upload: the one 401 for every failure, tokens in the form or as Bearer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from audio_service.auth import canonical_token, choose_token
from audio_service.tests.conftest import RowCounts, StagedFiles
from shared.errors import Unauthorized
from testkit.audio import AudioUser, create_user, upload
from testkit.problems import assert_problem

NOTHING = {"users": 0, "records": 0, "record_chunks": 0, "record_peaks": 0}


def assert_the_401(response: httpx.Response) -> None:
    assert_problem(
        response, 401, slug="unauthorized", detail="Missing or invalid token for this user."
    )
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_form_token_of_the_owner_is_accepted(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    response = await upload(client, user, tone_wav)
    assert response.status_code == 201, response.text
    assert response.json()["user_id"] == user.user_id


@pytest.mark.parametrize(
    "header",
    ["Bearer {token}", "bearer {token}", "BEARER {token}", "Bearer   {token}  "],
)
async def test_bearer_header_variants_are_accepted(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path, header: str
) -> None:
    response = await upload(client, user, tone_wav, bearer=header.format(token=user.token))
    assert response.status_code == 201, response.text


async def test_token_spelling_does_not_matter(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    response = await upload(client, user, tone_wav, token=user.token.upper())
    assert response.status_code == 201, response.text


async def test_same_token_in_form_and_header_is_accepted(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    response = await upload(client, user, tone_wav, token=user.token, bearer=f"Bearer {user.token}")
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "case",
    [
        "unknown_user",
        "wrong_token",
        "missing_token",
        "empty_token",
        "malformed_token",
        "other_users_token",
        "other_users_token_as_bearer",
        "basic_auth",
        "bearer_without_token",
        "form_and_header_disagree",
    ],
)
async def test_every_auth_failure_is_the_same_401_and_stores_nothing(
    client: httpx.AsyncClient,
    user: AudioUser,
    tone_wav: Path,
    row_counts: RowCounts,
    staged_files: StagedFiles,
    case: str,
) -> None:
    other = await create_user(client, "Other")
    before = await row_counts()
    call: dict[str, object] = {}
    match case:
        case "unknown_user":
            call = {"user_id": other.user_id + 1000, "token": user.token}
        case "wrong_token":
            call = {"token": "00000000-0000-4000-8000-000000000000"}
        case "missing_token":
            call = {"token": None, "bearer": None}
        case "empty_token":
            call = {"token": ""}
        case "malformed_token":
            call = {"token": "not-a-uuid"}
        case "other_users_token":
            call = {"token": other.token}
        case "other_users_token_as_bearer":
            call = {"bearer": f"Bearer {other.token}"}
        case "basic_auth":
            call = {"bearer": "Basic dXNlcjpwYXNz"}
        case "bearer_without_token":
            call = {"bearer": "Bearer"}
        case "form_and_header_disagree":
            call = {"token": user.token, "bearer": f"Bearer {other.token}"}

    token = call.get("token")
    bearer = call.get("bearer")
    user_id = call.get("user_id")
    response = await upload(
        client,
        user,
        tone_wav,
        token=token if isinstance(token, str) else None,
        bearer=bearer if isinstance(bearer, str) else None,
        user_id=user_id if isinstance(user_id, int) else None,
        send_token=case != "missing_token",
    )
    assert_the_401(response)
    assert await row_counts() == before
    assert staged_files() == []


async def test_unknown_user_and_wrong_token_answer_alike(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    unknown = await upload(client, user, tone_wav, user_id=user.user_id + 1)
    wrong = await upload(client, user, tone_wav, token="11111111-1111-4111-8111-111111111111")
    strip = ("request_id",)
    assert {k: v for k, v in unknown.json().items() if k not in strip} == {
        k: v for k, v in wrong.json().items() if k not in strip
    }


async def test_auth_is_checked_before_the_file_is_converted(
    client: httpx.AsyncClient, user: AudioUser, row_counts: RowCounts
) -> None:
    # Not a WAV at all: a 415 here would mean the file was looked at before the token.
    response = await upload(client, user, b"not audio", token="not-a-token")
    assert_the_401(response)
    assert await row_counts() == {"users": 1, "records": 0, "record_chunks": 0, "record_peaks": 0}


def test_choose_token_prefers_whichever_is_given() -> None:
    assert choose_token("a", None) == "a"
    assert choose_token(None, "b") == "b"
    assert choose_token("  ", " b ") == "b"
    assert choose_token("a", "a") == "a"
    assert choose_token(None, None) is None
    with pytest.raises(Unauthorized):
        choose_token("a", "b")


def test_canonical_token() -> None:
    token = "3f2b8c1e-7d4a-4e5f-9a1b-2c3d4e5f6a7b"
    assert canonical_token(token.upper()) == token
    assert canonical_token(token.replace("-", "")) == token
    assert canonical_token(f" {token} ") == token
    assert canonical_token("nope") is None
    assert canonical_token("") is None
    assert canonical_token(None) is None
