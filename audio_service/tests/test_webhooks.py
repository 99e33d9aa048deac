"""Job callbacks: which URLs are accepted, and what is sent (signed, Standard Webhooks)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest

from audio_service.callback_urls import check_callback_url
from audio_service.models import DONE, ConversionJob
from audio_service.settings import AudioSettings
from audio_service.webhooks import message_id, payload
from shared.errors import Unprocessable

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def _settings(**values: object) -> AudioSettings:
    return AudioSettings.model_validate({"webhook_secret": SECRET, **values})


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/audio", "http://example.org:8080/cb?x=1", "https://8.8.8.8/x"],
)
def test_public_http_urls_are_accepted(url: str) -> None:
    assert check_callback_url(url, _settings()) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "example.com/x",
        "https://user:pw@example.com/",
        "http://127.0.0.1:9000/",
        "http://localhost/",
        "http://api.localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://example.com:99999/",
        "https://example.com/#frag",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        check_callback_url(url, _settings())
    assert refused.value.extra["code"] == "bad_callback_url"


def test_private_hosts_may_be_allowed() -> None:
    url = "http://127.0.0.1:9000/cb"
    assert check_callback_url(url, _settings(webhook_allow_private_hosts=True)) == url


def test_no_secret_no_callbacks() -> None:
    with pytest.raises(Unprocessable) as refused:
        check_callback_url("https://example.com/", AudioSettings())
    assert refused.value.extra["code"] == "callbacks_disabled"


def test_a_secret_too_short_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        AudioSettings.model_validate({"webhook_secret": "whsec_" + base64.b64encode(b"x").decode()})


def test_the_payload_is_the_job_and_verifies() -> None:
    now = datetime.now(UTC)
    job = ConversionJob(
        id=uuid.uuid4(),
        user_id=7,
        status=DONE,
        progress=1.0,
        original_filename="a.wav",
        input_size=100,
        chunk_bytes=16,
        attempts=1,
        record_id=uuid.uuid4(),
        problem=None,
        callback_url="https://example.com/cb",
        base_url="https://audio.example.com",
        created_at=now,
        updated_at=now,
    )
    body = payload(job, now)
    assert body["type"] == "conversion_job.done"
    assert body["data"]["record_url"] == (
        f"https://audio.example.com/record?id={job.record_id}&user=7"
    )
    assert body["data"]["url"] == f"https://audio.example.com/record/jobs/{job.id}"
    assert message_id(job.id) == f"job_{job.id}"
