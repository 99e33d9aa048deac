"""The basic round trip of both services, through the gateway only.

Quiz: a request answers the question that was newest before it (``{}`` on an empty database),
the next one answers the last question the first stored. Audio: create a user, upload a WAV,
follow the returned link (which points at the gateway), and the MP3 decodes with the input's
duration, channels and rate; ranges, HEAD and ETag revalidation work; request ids are echoed;
both services' Swagger UI and OpenAPI are reachable under ``/services/<name>/``.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest

from devstack.stack import LocalStack
from testkit.audio import create_user
from testkit.wav import (
    LAME_FIXED_EXTRA_SAMPLES,
    decode_mp3,
    mp3_frame_samples,
    tone_wav,
)
from tests.e2e.helpers import (
    skip_stored_upstream_ids,
)

pytestmark = pytest.mark.e2e


async def new_user(gateway: httpx.AsyncClient) -> tuple[int, str]:
    user = await create_user(gateway, f"rt-{uuid.uuid4().hex[:12]}")
    return user.user_id, user.token


async def test_quiz_answers_the_question_stored_before_it(
    gateway: httpx.AsyncClient, stack: LocalStack
) -> None:
    # Earlier tests may have rewound the emulator's id stream onto ids already stored.
    async with httpx.AsyncClient(base_url=stack.emulator_url, timeout=10) as emulator:
        await skip_stored_upstream_ids(emulator, stack.config.env["QUIZ_DATABASE_URL"])
    listed = await gateway.get("/quiz/questions", params={"limit": 1})
    assert listed.status_code == 200, listed.text
    newest_before: list[dict[str, Any]] = listed.json()["items"]

    first = await gateway.post("/quiz", json={"questions_num": 3})
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/json")
    if newest_before:
        # Other tests of this session stored questions already: the answer is the newest.
        assert first.json()["id"] == newest_before[0]["id"]
    else:
        assert first.json() == {}

    stored = (await gateway.get("/quiz/questions", params={"limit": 3})).json()["items"]
    assert len(stored) == 3
    floor = newest_before[0]["id"] if newest_before else 0
    assert all(item["id"] > floor for item in stored), "the first request stored 3 new rows"

    second = await gateway.post("/quiz", json={"questions_num": 1})
    assert second.status_code == 200, second.text
    previous = second.json()
    assert previous == stored[0], "answers the newest question the first request stored"
    for key in ("id", "question", "answer", "created_at", "saved_at", "category"):
        assert key in previous

    detail = await gateway.get(f"/quiz/questions/{previous['id']}")
    assert detail.status_code == 200
    assert detail.json()["question"] == previous["question"]
    assert isinstance(detail.json()["raw"], dict)

    zero = await gateway.post("/quiz", json={"questions_num": 0})
    assert zero.status_code == 200
    newest = (await gateway.get("/quiz/questions", params={"limit": 1})).json()["items"][0]
    assert zero.json() == newest, "0 stores nothing and answers the newest question"


async def test_audio_round_trip(gateway: httpx.AsyncClient, stack: LocalStack) -> None:
    user_id, token = await new_user(gateway)
    rate, channels, duration_s = 44100, 2, 1.0
    wav = tone_wav(sample_rate=rate, channels=channels, duration_s=duration_s)

    upload = await gateway.post(
        "/record",
        data={"user_id": str(user_id), "token": token},
        files={"file": ("round trip.wav", wav, "audio/wav")},
    )
    assert upload.status_code == 201, upload.text
    body = upload.json()
    record_id = uuid.UUID(body["record_id"])
    assert record_id.version == 4
    url = body["url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == stack.gateway_url, "link points at the gateway"
    assert parts.path == "/record"
    assert parse_qs(parts.query) == {"id": [str(record_id)], "user": [str(user_id)]}
    assert upload.headers["location"] == url
    assert body["input"]["sample_rate"] == rate
    assert body["input"]["channels"] == channels

    # The link is followed exactly as given, with a fresh client (no auth, nothing else).
    async with httpx.AsyncClient(timeout=30) as anybody:
        download = await anybody.get(url)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "audio/mpeg"
    mp3 = download.content
    assert int(download.headers["content-length"]) == len(mp3) == body["output"]["size_bytes"]
    assert download.headers["accept-ranges"] == "bytes"
    assert 'filename="round trip.mp3"' in download.headers["content-disposition"]
    assert download.headers["content-disposition"].startswith("attachment")
    etag = download.headers["etag"]
    assert etag.strip('"') == body["output"]["sha256"]

    samples, mp3_rate = decode_mp3(mp3)
    assert mp3_rate == rate
    assert samples.shape[1] == channels
    expected_frames = round(duration_s * rate)
    # LAME's fixed delay and padding, plus at most one frame of rounding up.
    extra = samples.shape[0] - expected_frames
    assert 0 <= extra <= LAME_FIXED_EXTRA_SAMPLES + mp3_frame_samples(rate), extra
    assert float(np.abs(samples).max()) > 0.2, "the tone survived"

    ranged = await gateway.get(url, headers={"Range": "bytes=100-1099"})
    assert ranged.status_code == 206
    assert ranged.content == mp3[100:1100]
    assert ranged.headers["content-range"] == f"bytes 100-1099/{len(mp3)}"
    assert ranged.headers["content-length"] == "1000"

    suffix = await gateway.get(url, headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206
    assert suffix.content == mp3[-10:]

    head = await gateway.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(mp3))
    assert head.headers["etag"] == etag
    assert head.headers["content-type"] == "audio/mpeg"

    cached = await gateway.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag

    stale = await gateway.get(url, headers={"If-None-Match": '"not-the-etag"'})
    assert stale.status_code == 200
    assert stale.content == mp3

    listed = await gateway.get(
        f"/user/{user_id}/records", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200
    assert [item["record_id"] for item in listed.json()["items"]] == [str(record_id)]
    assert listed.json()["items"][0]["url"] == url


async def test_bearer_token_upload_and_delete(gateway: httpx.AsyncClient) -> None:
    user_id, token = await new_user(gateway)
    bearer = {"Authorization": f"Bearer {token}"}
    upload = await gateway.post(
        "/record",
        data={"user_id": str(user_id)},
        files={"file": ("mono.wav", tone_wav(sample_rate=8000, channels=1, duration_s=0.5))},
        headers=bearer,
    )
    assert upload.status_code == 201, upload.text
    record_id = upload.json()["record_id"]
    query = {"id": record_id, "user": str(user_id)}

    deleted = await gateway.delete("/record", params=query, headers=bearer)
    assert deleted.status_code == 204
    gone = await gateway.get("/record", params=query)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/quiz/questions", "/user", "/no/such/route"])
async def test_request_id_is_echoed(gateway: httpx.AsyncClient, path: str) -> None:
    request_id = f"rt-{uuid.uuid4().hex}"
    response = await gateway.get(path, headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id
    if response.status_code >= 400:
        assert response.json()["request_id"] == request_id


async def test_request_id_is_generated_when_missing(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/quiz", json={"questions_num": "x"})
    assert response.status_code == 422
    generated = response.headers["x-request-id"]
    assert len(generated) >= 16
    assert response.json()["request_id"] == generated


@pytest.mark.parametrize(("service", "public_path"), [("quiz", "/quiz"), ("audio", "/record")])
async def test_docs_and_openapi_through_the_gateway(
    gateway: httpx.AsyncClient, service: str, public_path: str
) -> None:
    docs = await gateway.get(f"/services/{service}/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in docs.text.lower()
    # Swagger UI must load the document from under the gateway prefix, not from /openapi.json.
    assert f"/services/{service}/openapi.json" in docs.text

    spec = await gateway.get(f"/services/{service}/openapi.json")
    assert spec.status_code == 200
    document = spec.json()
    assert document["openapi"].startswith("3.")
    assert public_path in document["paths"]

    for probe in ("health", "ready"):
        answer = await gateway.get(f"/services/{service}/{probe}")
        assert answer.status_code == 200, answer.text

    redirect = await gateway.get(f"/services/{service}")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == f"/services/{service}/docs"
