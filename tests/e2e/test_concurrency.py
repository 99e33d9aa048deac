"""Concurrency through the gateway, over both instances of each service.

Quiz: 100 concurrent ``POST /quiz {"questions_num": 5}``. Each request carries its own
``X-Request-ID``; the service stores it with every row it inserts, which is how rows are
attributed to requests from outside. What must hold:

- every answer is 200, and both quiz instances answered some (nginx's access log says which);
- exactly 500 new rows, 5 per request, no upstream id stored twice;
- every answer is a question "stored before that request's own": it exists, it is none of the
  request's own rows, its id is smaller than every id the request stored (ids come from a
  sequence, so a row inserted later always has a larger id), and it is at least the newest id
  stored before the burst started (the answer is the newest row when the request began);
  ``{}`` only if the table was empty before the burst.

Audio: 20 concurrent uploads by 4 users over both audio instances. Upload ``i`` is a tone of
its own frequency and duration, so each download can be matched to its upload by content:
all 201, every record downloads (SHA-256 as reported), decodes as MP3 with the upload's
duration (within the encoder's padding) and dominant frequency; a record asked for with
any other user's id is 404, and each user's listing holds exactly their own records.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from devstack.stack import LocalStack
from testkit.audio import AudioUser, create_user, upload
from testkit.problems import assert_problem
from testkit.wav import decode_mp3, dominant_frequency, tone_wav
from tests.e2e.helpers import (
    download,
    duplicate_upstream_ids,
    fetch,
    new_request_id,
    post_quiz,
    quiz_rows,
    sha256_hex,
    upstream_ports_served,
    use_fresh_id_pool,
)

pytestmark = pytest.mark.e2e

QUIZ_REQUESTS = 100
QUESTIONS_PER_REQUEST = 5
UPLOADS = 20
USERS = 4
SAMPLE_RATE = 16_000
# Without a LAME info header, decoders return the encoder delay and end padding as extra
# samples: 1152-2303 of them (see audio_service/conversion.py). A little slack on top.
MAX_EXTRA_SAMPLES = 2304 + 64


def _tone(index: int) -> tuple[float, float]:
    """(frequency Hz, duration s) of upload ``index``: 45 Hz and 0.2 s apart, far more than
    the tolerances below, so no upload can pass for another."""
    return 300.0 + 45.0 * index, 0.4 + 0.2 * index


async def test_100_concurrent_quiz_requests(
    stack: LocalStack, gateway: httpx.AsyncClient, emulator: httpx.AsyncClient
) -> None:
    db_url = stack.config.env["QUIZ_DATABASE_URL"]
    await use_fresh_id_pool(emulator)
    before = await quiz_rows(db_url)
    newest_before = max((row["id"] for row in before), default=None)
    request_ids = [new_request_id(f"conc-quiz-{i}") for i in range(QUIZ_REQUESTS)]

    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        timeout=30,
        limits=httpx.Limits(max_connections=QUIZ_REQUESTS, max_keepalive_connections=0),
    ) as client:
        responses = await asyncio.gather(
            *(post_quiz(client, QUESTIONS_PER_REQUEST, request_id=rid) for rid in request_ids)
        )

    statuses = Counter(response.status_code for response in responses)
    failures = [r.text[:300] for r in responses if r.status_code != 200][:3]
    assert statuses == {200: QUIZ_REQUESTS}, f"{statuses}: {failures}"

    served = await upstream_ports_served(stack, request_ids)
    assert sum(served.values()) == QUIZ_REQUESTS, served
    for port in stack.config.quiz_ports:
        assert served[port] > 0, f"quiz instance on {port} served none: {served}"

    after = await quiz_rows(db_url)
    assert len(after) == len(before) + QUIZ_REQUESTS * QUESTIONS_PER_REQUEST
    assert await duplicate_upstream_ids(db_url) == []
    by_id = {row["id"]: row for row in after}
    new_rows = [row for row in after if newest_before is None or row["id"] > newest_before]
    own: dict[str, list[int]] = {rid: [] for rid in request_ids}
    for row in new_rows:
        assert row["request_id"] in own, f"row {row['id']} stored by an unknown request: {row}"
        own[row["request_id"]].append(row["id"])

    for rid, response in zip(request_ids, responses, strict=True):
        own_ids = own[rid]
        assert len(own_ids) == QUESTIONS_PER_REQUEST, f"{rid} stored {len(own_ids)} rows"
        body: dict[str, Any] = response.json()
        if not body:
            assert newest_before is None, f"{rid} answered {{}} although questions existed"
            continue
        answer_id = body["id"]
        assert answer_id in by_id, f"{rid} answered question {answer_id}, which is not stored"
        assert answer_id not in own_ids, f"{rid} answered one of its own rows ({answer_id})"
        assert answer_id < min(own_ids), f"{rid}: answer {answer_id} is newer than {own_ids}"
        if newest_before is not None:
            assert answer_id >= newest_before, f"{rid}: answer {answer_id} predates the newest"
        stored = by_id[answer_id]
        assert (body["upstream_id"], body["question"]) == (
            stored["upstream_id"],
            stored["question"],
        )


async def _upload_all(
    client: httpx.AsyncClient, users: list[AudioUser], request_ids: list[str]
) -> list[httpx.Response]:
    async def one(index: int) -> httpx.Response:
        frequency, duration = _tone(index)
        wav = tone_wav(frequency, duration, sample_rate=SAMPLE_RATE)
        user = users[index % len(users)]
        return await upload(
            client, user, wav, filename=f"tone-{index}.wav", request_id=request_ids[index]
        )

    return await asyncio.gather(*(one(i) for i in range(UPLOADS)))


async def test_20_concurrent_uploads_never_mix_records(
    stack: LocalStack, gateway: httpx.AsyncClient
) -> None:
    users = list(await asyncio.gather(*(create_user(gateway) for _ in range(USERS))))
    request_ids = [new_request_id(f"conc-audio-{i}") for i in range(UPLOADS)]

    async with httpx.AsyncClient(
        base_url=stack.gateway_url,
        timeout=60,
        limits=httpx.Limits(max_connections=UPLOADS, max_keepalive_connections=0),
    ) as client:
        responses = await _upload_all(client, users, request_ids)

    statuses = Counter(response.status_code for response in responses)
    failures = [r.text[:300] for r in responses if r.status_code != 201][:3]
    assert statuses == {201: UPLOADS}, f"{statuses}: {failures}"
    served = await upstream_ports_served(stack, request_ids)
    assert sum(served.values()) == UPLOADS, served
    for port in stack.config.audio_ports:
        assert served[port] > 0, f"audio instance on {port} served none: {served}"

    records = [response.json() for response in responses]
    record_ids = [str(record["record_id"]) for record in records]
    assert len(set(record_ids)) == UPLOADS
    owners = {
        str(row["id"]): int(row["user_id"])
        for row in await fetch(
            stack.config.env["AUDIO_DATABASE_URL"],
            "SELECT id, user_id FROM records WHERE id::text = ANY($1::text[])",
            record_ids,
        )
    }

    downloads = await asyncio.gather(
        *(download(gateway, record_ids[i], users[i % USERS].user_id) for i in range(UPLOADS))
    )
    for index, (record, got) in enumerate(zip(records, downloads, strict=True)):
        user = users[index % USERS]
        frequency, duration = _tone(index)
        assert record["user_id"] == user.user_id
        assert owners[record_ids[index]] == user.user_id, "stored under another user"
        assert got.status_code == 200, got.text[:300]
        assert got.headers["content-type"].startswith("audio/mpeg")
        assert sha256_hex(got.content) == record["output"]["sha256"]
        assert record["duration_s"] == pytest.approx(duration, abs=1e-3)
        samples, rate = decode_mp3(got.content)
        assert rate == SAMPLE_RATE
        extra = len(samples) - round(duration * rate)
        assert 0 <= extra <= MAX_EXTRA_SAMPLES, f"upload {index}: {extra} extra samples"
        heard = dominant_frequency(samples.mean(axis=1), rate)
        assert heard == pytest.approx(frequency, abs=5.0), f"upload {index}: {heard} Hz"

    # Every record under every other user's id: the same 404 as a record that never existed.
    cross = [
        (record_ids[i], other.user_id)
        for i in range(UPLOADS)
        for other in users
        if other.user_id != users[i % USERS].user_id
    ]
    answers = await asyncio.gather(*(download(gateway, rid, uid) for rid, uid in cross))
    for (rid, uid), answer in zip(cross, answers, strict=True):
        assert answer.status_code == 404, f"record {rid} with user {uid}: {answer.status_code}"
        assert_problem(answer, 404)

    for user_index, user in enumerate(users):
        listing = await gateway.get(
            f"/user/{user.user_id}/records",
            headers={"Authorization": f"Bearer {user.token}"},
            params={"limit": 100},
        )
        assert listing.status_code == 200, listing.text
        listed = {str(item["record_id"]) for item in listing.json()["items"]}
        assert listed == {record_ids[i] for i in range(user_index, UPLOADS, USERS)}
