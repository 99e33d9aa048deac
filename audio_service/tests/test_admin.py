"""The audio admin over HTTP, in-process on the real database: who gets in, what its cookies
and headers say, what it shows (never a token or its hash), and that its delete is the
service's own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from audio_service.tests.conftest import ClientFactory, RowCounts
from shared.admin.login import TOO_MANY_ATTEMPTS, WRONG_CREDENTIALS
from shared.admin.responses import CONTENT_SECURITY_POLICY
from testkit import admin
from testkit.audio import AudioUser, create_user, upload

BASE = "/admin/audio"
TOKEN_SECRET = "test-secret-of-the-audio-suite"  # conftest's make_settings
PAGES = ("/", "/user/list", "/record/list")

AdminClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def admin_client(make_client: ClientFactory) -> AdminClient:
    """``async with admin_client(**overrides)``: a client of an app with the admin on."""
    return lambda **overrides: make_client(**admin.admin_overrides(**overrides))


@pytest.fixture
async def signed_in(admin_client: AdminClient) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client() as client:
        response = await admin.login(client, BASE)
        assert response.status_code == 303, response.text
        yield client


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {value.split("=", 1)[0]: value for value in response.headers.get_list("set-cookie")}


def attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in set_cookie.split(";")[1:]}


def table_rows(page: str) -> list[dict[str, str]]:
    """The list page's rows: each column's text by column name."""
    rows = []
    for row in re.findall(r"<tr data-sa-pk=.*?</tr>", page, re.S):
        cells = re.findall(r'<td data-column="([^"]+)"\s*>(.*?)</td>', row, re.S)
        rows.append({name: " ".join(re.sub(r"<[^>]+>", " ", cell).split()) for name, cell in cells})
    return rows


def token_forms(user: AudioUser) -> list[str]:
    """Every way a page could spell the user's token or its stored hash."""
    digest = hmac.new(TOKEN_SECRET.encode(), user.token.encode(), hashlib.sha256).digest()
    return [
        user.token,
        user.token.replace("-", ""),
        digest.hex(),
        base64.b64encode(digest).decode(),
        base64.urlsafe_b64encode(digest).decode().rstrip("="),
    ]


async def test_without_a_password_hash_there_is_no_admin(client: httpx.AsyncClient) -> None:
    for path in (f"{BASE}/", f"{BASE}/login", f"{BASE}/user/list"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_every_page_needs_a_login(admin_client: AdminClient, user: AudioUser) -> None:
    async with admin_client() as client:
        for path in (*PAGES, "/user/detail?pk=1"):
            response = await client.get(f"{BASE}{path}")
            assert response.status_code == 303, path
            assert urlsplit(response.headers["location"]).path == f"{BASE}/login"
        # An action without a session is not carried out either.
        await client.get(f"{BASE}/login")
        response = await client.post(
            f"{BASE}/_api/record/action?name=delete&pks={uuid.uuid4()}",
            headers=admin.csrf_header(client),
        )
        assert response.status_code == 303


async def test_login_sets_a_confined_session_cookie_and_logout_ends_it(
    admin_client: AdminClient,
) -> None:
    async with admin_client() as client:
        response = await admin.login(client, BASE)
        assert response.status_code == 303
        assert response.headers["location"] == f"http://testserver{BASE}/"
        cookie = set_cookies(response)["audio_admin_session"]
        assert "Path=/admin/audio/" in cookie
        assert "SameSite=Strict" in cookie
        assert {"httponly", "samesite", "path"} <= attributes(cookie)
        assert "secure" not in attributes(cookie)  # plain http: a Secure cookie would be lost
        assert "max-age" not in attributes(cookie)  # no "remember me": a browser session
        assert (await client.get(f"{BASE}/user/list")).status_code == 200

        response = await admin.logout(client, BASE)
        assert response.status_code == 303
        assert urlsplit(response.headers["location"]).path == f"{BASE}/login"
        assert "Max-Age=0" in set_cookies(response)["audio_admin_session"]
        assert (await client.get(f"{BASE}/user/list")).status_code == 303


async def test_behind_https_every_cookie_is_secure_and_links_say_https(
    admin_client: AdminClient,
) -> None:
    https = {"X-Forwarded-Proto": "https"}
    async with admin_client() as client:
        form = await client.get(f"{BASE}/login", headers=https)
        csrf_cookie = set_cookies(form)[admin.CSRF_COOKIE]
        assert {"secure", "samesite", "path"} <= attributes(csrf_cookie)
        assert "httponly" not in attributes(csrf_cookie)  # the admin's scripts send it back
        assert 'action="https://testserver/admin/audio/login"' in form.text
        data = {
            "username": admin.ADMIN_USERNAME,
            "password": admin.ADMIN_PASSWORD,
            "csrftoken": admin.csrf_field(form.text),
            "remember_me": "on",
        }
        # The client talks plain http, so it keeps Secure cookies to itself: sent by hand.
        csrf_value = csrf_cookie.split(";", 1)[0]
        response = await client.post(
            f"{BASE}/login", data=data, headers={**https, "Cookie": csrf_value}
        )
        assert response.status_code == 303
        assert response.headers["location"].startswith("https://testserver/admin/audio/")
        session = set_cookies(response)["audio_admin_session"]
        assert {"secure", "httponly", "samesite", "path", "max-age"} <= attributes(session)


async def test_a_wrong_name_or_password_is_a_plain_refusal(admin_client: AdminClient) -> None:
    async with admin_client() as client:
        for username, password in (
            (admin.ADMIN_USERNAME, "wrong password"),
            ("root", admin.ADMIN_PASSWORD),
            (admin.ADMIN_USERNAME, ""),
        ):
            response = await admin.login(client, BASE, username=username, password=password)
            assert response.status_code == 400
            assert WRONG_CREDENTIALS in response.text
            assert "audio_admin_session" not in set_cookies(response)
        assert (await client.get(f"{BASE}/user/list")).status_code == 303


async def test_login_attempts_are_bounded_per_client_and_in_total(
    admin_client: AdminClient,
) -> None:
    def client_at(address: str) -> dict[str, str]:
        return {"X-Real-IP": address}  # the address the gateway saw

    async with admin_client(
        admin_login_attempts_per_client=2, admin_login_attempts_total=3
    ) as client:
        first = client_at("192.0.2.1")
        for _ in range(2):
            response = await admin.login(client, BASE, password="guess", headers=first)
            assert response.status_code == 400
        # The budget of this address is spent: even the right password is refused unchecked.
        response = await admin.login(client, BASE, headers=first)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "60"
        assert TOO_MANY_ATTEMPTS in response.text
        assert "audio_admin_session" not in set_cookies(response)

        # Another address has its own budget, until all addresses together have spent theirs.
        second = client_at("192.0.2.2")
        response = await admin.login(client, BASE, password="guess", headers=second)
        assert response.status_code == 400
        response = await admin.login(client, BASE, headers=client_at("192.0.2.3"))
        assert response.status_code == 429


async def test_forms_and_actions_need_the_csrf_token(
    signed_in: httpx.AsyncClient, user: AudioUser, tone_wav: Path, row_counts: RowCounts
) -> None:
    client = signed_in
    record_id = (await upload(client, user, tone_wav)).json()["record_id"]
    # A forged delete (another site cannot read the cookie to send it as the header).
    response = await client.post(f"{BASE}/_api/record/row-action?name=delete&pk={record_id}")
    assert response.status_code == 403
    response = await client.post(
        f"{BASE}/_api/record/row-action?name=delete&pk={record_id}",
        headers={"X-CSRFToken": "forged"},
    )
    assert response.status_code == 403
    assert (await row_counts())["records"] == 1
    # A forged logout or login form.
    assert (await client.post(f"{BASE}/logout")).status_code == 403
    assert (await client.get(f"{BASE}/user/list")).status_code == 200
    response = await client.post(
        f"{BASE}/login",
        data={"username": admin.ADMIN_USERNAME, "password": admin.ADMIN_PASSWORD},
    )
    assert response.status_code == 403


async def test_users_show_their_records_count_and_size_but_never_a_token(
    signed_in: httpx.AsyncClient, tone_wav: Path
) -> None:
    client = signed_in
    users = [await create_user(client, name) for name in ("Ada", "Grace")]
    sizes = [(await upload(client, users[0], tone_wav)).json()["output"]["size_bytes"]]
    sizes.append((await upload(client, users[0], tone_wav)).json()["output"]["size_bytes"])

    listing = await client.get(f"{BASE}/user/list")
    assert listing.status_code == 200
    rows = {row["name"]: row for row in table_rows(listing.text)}
    assert rows["Ada"]["record_count"] == "2"
    assert rows["Ada"]["record_bytes"] == str(sum(sizes))
    assert (rows["Grace"]["record_count"], rows["Grace"]["record_bytes"]) == ("0", "0")

    pages = [listing.text]
    for path in (*PAGES, "/user/detail?pk=1", "/user/detail?pk=2", "/record/list?q=Ada"):
        response = await client.get(f"{BASE}{path}")
        assert response.status_code == 200, path
        pages.append(response.text)
    record_id = (await client.get("/user/1/records", headers=bearer(users[0]))).json()["items"][0][
        "record_id"
    ]
    pages.append((await client.get(f"{BASE}/record/detail?pk={record_id}")).text)
    exported = await client.post(
        f"{BASE}/_api/user/action?name=export&all=1",
        data={"format": "csv", "scope": "all"},
        headers=admin.csrf_header(client),
    )
    assert exported.status_code == 200, exported.headers
    assert "Ada" in exported.text
    assert "Grace" in exported.text
    pages.append(exported.text)
    for user in users:
        for form in token_forms(user):
            for page in pages:
                assert form not in page


def bearer(user: AudioUser) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


async def test_records_play_and_download_from_their_public_link(
    signed_in: httpx.AsyncClient, user: AudioUser, tone_wav: Path
) -> None:
    client = signed_in
    record = (await upload(client, user, tone_wav)).json()
    link = f"/record?id={record['record_id']}&amp;user={user.user_id}"
    listing = (await client.get(f"{BASE}/record/list")).text
    assert f'<audio controls preload="none" src="{link}"' in listing
    detail = (await client.get(f"{BASE}/record/detail?pk={record['record_id']}")).text
    assert f'href="{link}" download' in detail
    mp3 = await client.get(link.replace("&amp;", "&"))
    assert mp3.status_code == 200
    assert hashlib.sha256(mp3.content).hexdigest() == record["output"]["sha256"]


async def test_delete_is_the_services_delete(
    signed_in: httpx.AsyncClient, user: AudioUser, tone_wav: Path, row_counts: RowCounts
) -> None:
    client = signed_in
    kept, deleted = [(await upload(client, user, tone_wav)).json()["record_id"] for _ in "ab"]
    chunks_per_record = (await row_counts())["record_chunks"] // 2
    response = await client.post(
        f"{BASE}/_api/record/row-action?name=delete&pk={deleted}",
        headers=admin.csrf_header(client),
    )
    assert response.status_code == 200, response.text
    assert urlsplit(response.json()["redirect"]).path == f"{BASE}/record/list"
    # Gone with its chunks, from the API as from the admin; the other record stays.
    assert await row_counts() == {
        "users": 1,
        "records": 1,
        "record_chunks": chunks_per_record,
        "record_peaks": 1,
    }
    assert (await client.get(f"/record?id={deleted}&user={user.user_id}")).status_code == 404
    assert (await client.get(f"/record?id={kept}&user={user.user_id}")).status_code == 200
    listing = (await client.get(f"{BASE}/record/list")).text
    assert f'data-sa-pk="{deleted}"' not in listing
    assert f'data-sa-pk="{kept}"' in listing
    assert 'The item "tone.wav of Ada" was successfully deleted.' in html.unescape(listing)

    # A batch delete, with a record that is already gone among them.
    response = await client.post(
        f"{BASE}/_api/record/action?name=delete&pks={kept}&pks={deleted}",
        headers=admin.csrf_header(client),
    )
    assert response.status_code == 200, response.text
    assert await row_counts() == {"users": 1, "records": 0, "record_chunks": 0, "record_peaks": 0}


async def test_users_cannot_be_changed_from_the_admin(
    signed_in: httpx.AsyncClient, user: AudioUser, row_counts: RowCounts
) -> None:
    client = signed_in
    for path in ("/user/create", "/user/edit?pk=1", "/record/create"):
        assert (await client.get(f"{BASE}{path}")).status_code in (403, 404), path
    response = await client.post(
        f"{BASE}/_api/user/action?name=delete&pks={user.user_id}",
        headers=admin.csrf_header(client),
    )
    assert response.status_code == 400
    assert (await row_counts())["users"] == 1


async def test_pages_carry_the_admins_headers_and_load_only_its_own_files(
    signed_in: httpx.AsyncClient,
) -> None:
    client = signed_in
    page = await client.get(f"{BASE}/record/list")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assets = re.findall(r'(?:src|href)="([^"#]+\.(?:js|css)[^"]*)"', page.text)
    assert len(assets) >= 5
    for url in assets:
        parts = urlsplit(url)
        assert parts.netloc in ("", "testserver"), url
        assert parts.path.startswith(f"{BASE}/static/"), url
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "no-cache"
    assert "rsms.me" not in page.text  # the web font starlette-admin imports by default


async def test_the_session_cookie_cannot_be_forged(
    admin_client: AdminClient,
) -> None:
    async with admin_client() as client:
        await admin.login(client, BASE)
        good = client.cookies.get("audio_admin_session")
        assert good is not None
        value, timestamp, signature = good.split(".")
        forged: dict[str, Any] = {
            "tampered value": f"{'0' * len(value)}.{timestamp}.{signature}",
            "other signature": f"{value}.{timestamp}.{'A' * len(signature)}",
        }
        for name, cookie in forged.items():
            client.cookies.set("audio_admin_session", cookie, path="/admin/audio/")
            assert (await client.get(f"{BASE}/user/list")).status_code == 303, name
