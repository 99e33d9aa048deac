"""The record link: AUDIO_PUBLIC_BASE_URL, the gateway's X-Forwarded-*, or the Host header."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from pydantic import ValidationError
from starlette.requests import Request

from audio_service.links import request_base_url, valid_host
from audio_service.settings import AudioSettings
from audio_service.tests.conftest import ClientFactory, RowCounts, StagedFiles
from testkit.audio import AudioUser, bearer_header, create_user, upload
from testkit.problems import assert_problem


def _request(headers: dict[str, str], scheme: str = "http") -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": scheme,
            "path": "/record",
            "query_string": b"",
            "server": ("10.0.0.5", 8002),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"host": "audio.example.com"}, "http://audio.example.com"),
        ({"host": "127.0.0.1:8080"}, "http://127.0.0.1:8080"),
        ({"host": "[::1]:8080"}, "http://[::1]:8080"),
        ({"host": "Audio.Example.COM:80"}, "http://audio.example.com:80"),
        (
            {"host": "audio:8002", "x-forwarded-proto": "https", "x-forwarded-host": "ex.com"},
            "https://ex.com",
        ),
        (
            {"host": "audio:8002", "x-forwarded-proto": "http", "x-forwarded-host": "gw:8080"},
            "http://gw:8080",
        ),
        (
            {"x-forwarded-host": "gw.example.com", "x-forwarded-port": "8443"},
            "http://gw.example.com:8443",
        ),
        (
            {"x-forwarded-proto": "https", "x-forwarded-host": "gw", "x-forwarded-port": "443"},
            "https://gw",
        ),
        (
            {"x-forwarded-proto": "https, http", "x-forwarded-host": "first.com, second.com"},
            "https://first.com",
        ),
        # Hostile or broken values are ignored, never copied into the link.
        ({"host": "ok.com", "x-forwarded-host": "evil.com/path?x=1"}, "http://ok.com"),
        ({"host": "ok.com", "x-forwarded-host": "evil.com\r\nSet-Cookie: a=b"}, "http://ok.com"),
        ({"host": "ok.com", "x-forwarded-host": "user@evil.com"}, "http://ok.com"),
        ({"host": "ok.com", "x-forwarded-host": "evil.com:99999"}, "http://ok.com"),
        ({"host": "ok.com", "x-forwarded-host": "[not:ipv6"}, "http://ok.com"),
        ({"host": "ok.com", "x-forwarded-proto": "javascript"}, "http://ok.com"),
        ({"host": "ok.com", "x-forwarded-port": "8443"}, "http://ok.com"),
        ({"x-forwarded-host": "gw", "x-forwarded-port": "12ab"}, "http://gw"),
        # No usable host: no link (never the instance's own address, 10.0.0.5:8002).
        ({"host": "bad host"}, None),
        ({"host": "a..b"}, None),
        ({"host": "_"}, None),
        ({"x-forwarded-host": "_", "host": "_"}, None),
        ({}, None),
    ],
)
def test_request_base_url(headers: dict[str, str], expected: str | None) -> None:
    assert request_base_url(_request(headers)) == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("example.com", True),
        ("audio_service:8002", True),
        ("192.168.1.10:65535", True),
        ("[2001:db8::1]", True),
        ("", False),
        ("_", False),
        ("-leading.com", False),
        ("host:0", False),
        ("host:", False),
        ("exa mple.com", False),
        ("[::g]", False),
        ("x" * 300, False),
    ],
)
def test_valid_host(value: str, valid: bool) -> None:
    assert (valid_host(value) is not None) is valid


async def test_link_follows_the_gateway_headers(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    response = await upload(
        client,
        user,
        tone_wav,
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "audio.example.com:8443"},
    )
    body = response.json()
    url = urlsplit(body["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "audio.example.com:8443", "/record")
    assert parse_qs(url.query) == {"id": [body["record_id"]], "user": [str(user.user_id)]}


async def test_link_uses_the_host_header_without_a_gateway(
    client: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    response = await upload(client, user, tone_wav, headers={"Host": "127.0.0.1:8002"})
    assert response.json()["url"].startswith("http://127.0.0.1:8002/record?id=")


async def test_public_base_url_wins_over_headers(
    make_client: ClientFactory, tone_wav: Path
) -> None:
    async with make_client(public_base_url="https://media.example.org/audio/") as client:
        user = await create_user(client, "Linked")
        response = await upload(
            client, user, tone_wav, headers={"X-Forwarded-Host": "other.example.com"}
        )
        body = response.json()
        assert body["url"] == (
            f"https://media.example.org/audio/record?id={body['record_id']}&user={user.user_id}"
        )
        listed = await client.get(f"/user/{user.user_id}/records", headers=bearer_header(user))
        assert listed.json()["items"][0]["url"] == body["url"]


@pytest.mark.parametrize(
    "value", ["ftp://example.com", "example.com", "https://", "https://x.com/?q=1", "https://x#f"]
)
def test_public_base_url_must_be_an_http_url(value: str) -> None:
    with pytest.raises(ValidationError):
        AudioSettings(database_url="sqlite://", public_base_url=value)


def test_blank_public_base_url_means_unset() -> None:
    assert AudioSettings(database_url="sqlite://", public_base_url=" ").public_base_url is None


async def _upload_request(client: httpx.AsyncClient, user: AudioUser, wav: Path) -> httpx.Request:
    return client.build_request(
        "POST",
        "/record",
        data={"user_id": str(user.user_id), "token": user.token},
        files={"file": ("t.wav", await anyio.Path(wav).read_bytes(), "audio/wav")},
    )


async def _without_host(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    # As an HTTP/1.0 client may send it: httpx adds Host itself, so it is taken off again.
    del request.headers["host"]
    return await client.send(request)


async def test_an_upload_naming_no_host_is_400_before_any_work(
    client: httpx.AsyncClient,
    user: AudioUser,
    tone_wav: Path,
    row_counts: RowCounts,
    staged_files: StagedFiles,
) -> None:
    before = await row_counts()
    for host in (None, "_"):
        request = await _upload_request(client, user, tone_wav)
        if host is None:
            response = await _without_host(client, request)
        else:
            request.headers["host"] = host
            response = await client.send(request)
        body = assert_problem(response, 400, slug="bad-request", code="no_host")
        assert "AUDIO_PUBLIC_BASE_URL" in body["detail"]
    assert await row_counts() == before
    assert staged_files() == []
    listed = client.build_request(
        "GET", f"/user/{user.user_id}/records", headers=bearer_header(user)
    )
    assert_problem(await _without_host(client, listed), 400, code="no_host")


async def test_without_host_the_public_base_url_makes_the_link(
    make_client: ClientFactory, tone_wav: Path
) -> None:
    async with make_client(public_base_url="https://media.example.org") as client:
        user = await create_user(client, "No Host")
        response = await _without_host(client, await _upload_request(client, user, tone_wav))
    assert response.status_code == 201, response.text
    assert response.json()["url"].startswith("https://media.example.org/record?id=")
