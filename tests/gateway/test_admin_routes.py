"""The gateway's admin block: each service's admin under /admin/<service>/, path unchanged,
and a page of links at /admin/ (stand-in upstreams echo what they received)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.gateway import Gateway
from tests.gateway.checks import assert_problem

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=5) as http:
        yield http


@pytest.mark.parametrize(
    ("url", "group", "path", "query"),
    [
        ("/admin/quiz/", "quiz", "/admin/quiz/", ""),
        (
            "/admin/quiz/question/list?q=river&sort=id__desc",
            "quiz",
            "/admin/quiz/question/list",
            "q=river&sort=id__desc",
        ),
        (
            "/admin/audio/login?next=%2Fadmin%2Faudio%2F",
            "audio",
            "/admin/audio/login",
            "next=%2Fadmin%2Faudio%2F",
        ),
        (
            "/admin/audio/static/css/admin.css?v=1",
            "audio",
            "/admin/audio/static/css/admin.css",
            "v=1",
        ),
    ],
)
def test_each_admin_reaches_its_service_unchanged(
    client: httpx.Client, url: str, group: str, path: str, query: str
) -> None:
    response = client.get(url)
    assert response.status_code == 200
    echo = response.json()
    assert echo["instance"].startswith(f"{group}-")
    assert (echo["path"], echo["query"]) == (path, query)
    assert "x-forwarded-prefix" not in echo["headers"]


def test_a_login_form_post_reaches_the_service(client: httpx.Client) -> None:
    form = {"username": "admin", "password": "x" * 40, "csrftoken": "t" * 90}
    echo = client.post("/admin/audio/login", data=form).json()
    assert (echo["instance"][:6], echo["method"], echo["path"]) == (
        "audio-",
        "POST",
        "/admin/audio/login",
    )
    assert echo["body_bytes"] > 0


@pytest.mark.parametrize(
    ("url", "location"),
    [("/admin/quiz", "/admin/quiz/"), ("/admin/audio", "/admin/audio/"), ("/admin", "/admin/")],
)
def test_bare_admin_paths_redirect_to_their_slash(
    client: httpx.Client, url: str, location: str
) -> None:
    response = client.get(url)
    assert response.status_code == 308
    assert response.headers["location"] == location


def test_the_admin_index_links_both_admins_and_nothing_else(client: httpx.Client) -> None:
    response = client.get("/admin/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert 'href="/admin/quiz/"' in response.text
    assert 'href="/admin/audio/"' in response.text
    assert "<script" not in response.text


@pytest.mark.parametrize("url", ["/admin/other/", "/admin/quizzes", "/administrator", "/wp-admin"])
def test_other_admin_paths_are_a_problem_404(client: httpx.Client, url: str) -> None:
    assert_problem(client.get(url), 404, "not-found")
