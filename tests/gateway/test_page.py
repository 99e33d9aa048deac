"""The gateway serves the page (web/) itself, with the headers a page on the open web needs:
a Content-Security-Policy that allows only the origin, no framing, no referrer, revalidation
for the HTML and a year of immutable caching for the content-hashed assets."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from devstack.gateway import WEB_ROOT, Gateway

pytestmark = pytest.mark.e2e

EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
YEAR_IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml; charset=utf-8",
}


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        yield http


def asset_paths() -> list[str]:
    return sorted(f"/assets/{p.name}" for p in (WEB_ROOT / "assets").iterdir())


def test_the_page_is_served_with_its_security_headers(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == (WEB_ROOT / "index.html").read_bytes()
    headers = response.headers
    assert headers["content-security-policy"] == EXPECTED_CSP
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["permissions-policy"] == "microphone=(self), camera=(), geolocation=()"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert len(headers.get_list("x-request-id")) == 1


def test_the_policy_allows_nothing_but_the_origin() -> None:
    directives = dict(d.strip().split(" ", 1) for d in EXPECTED_CSP.split(";"))
    for name, sources in directives.items():
        assert set(sources.split()) <= {"'self'", "'none'"}, name
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"


def test_the_html_is_revalidated_every_time(client: httpx.Client) -> None:
    first = client.get("/")
    assert first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    again = client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    # The security headers come with the 304 too (a browser keeps the ones it last got).
    assert again.headers["content-security-policy"] == EXPECTED_CSP


@pytest.mark.parametrize("path", asset_paths())
def test_assets_are_cached_for_a_year(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.content == (WEB_ROOT / path.removeprefix("/")).read_bytes()
    assert response.headers["content-type"] == CONTENT_TYPES[path.rsplit(".", 1)[1]]
    assert response.headers["cache-control"] == YEAR_IMMUTABLE
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "etag" in response.headers


def test_text_assets_are_compressed(client: httpx.Client) -> None:
    [script] = [p for p in asset_paths() if re.search(r"/records\.[0-9a-f]+\.js$", p)]
    response = client.get(script, headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    # httpx decodes it: the bytes are the file's.
    assert response.content == (WEB_ROOT / script.removeprefix("/")).read_bytes()


def test_head_answers_like_get_without_a_body(client: httpx.Client) -> None:
    response = client.head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-security-policy"] == EXPECTED_CSP


@pytest.mark.parametrize(
    ("method", "path", "status", "slug"),
    [
        ("GET", "/assets/missing.0123456789.js", 404, "not-found"),
        ("GET", "/index.html", 404, "not-found"),
        ("GET", "/assets/", 404, "not-found"),
        ("POST", "/", 405, "method-not-allowed"),
        ("DELETE", asset_paths()[0], 405, "method-not-allowed"),
        ("PUT", asset_paths()[0], 405, "method-not-allowed"),
    ],
)
def test_what_the_page_does_not_serve_is_a_problem(
    client: httpx.Client, method: str, path: str, status: int, slug: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{slug}")
