"""Using a service's admin over HTTP as its pages do: the login form with its CSRF token,
actions with the ``X-CSRFToken`` header, logout.

``admin_overrides`` turns the admin on in a service's settings with a password hash made
with cheap Argon2id parameters (the hash names them, so it is checked with them): a real
hash, just quick to check, so tests can log in often.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from argon2 import PasswordHasher

ADMIN_USERNAME = "operator"
ADMIN_PASSWORD = "correct horse battery staple"
ADMIN_SECRET_KEY = "test-admin-secret-key-0123456789abcdef"
CSRF_COOKIE = "starlette_admin_csrftoken"

_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CSRF_FIELD = re.compile(r'name="csrftoken" value="([^"]*)"')


def admin_overrides(**overrides: Any) -> dict[str, Any]:
    """Settings (field names, without the prefix) that turn the admin on."""
    return {
        "admin_password_hash": _CHEAP.hash(ADMIN_PASSWORD),
        "admin_secret_key": ADMIN_SECRET_KEY,
        "admin_username": ADMIN_USERNAME,
        **overrides,
    }


def csrf_field(page: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF_FIELD.search(page)
    assert match is not None, "the page has no CSRF field"
    return match[1]


async def login(
    client: httpx.AsyncClient,
    base: str,
    *,
    username: str = ADMIN_USERNAME,
    password: str = ADMIN_PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Fills in ``base``'s login form (``base`` is e.g. ``/admin/audio``) and sends it."""
    form = await client.get(f"{base}/login", headers=headers)
    assert form.status_code == 200, form.text
    data = {"username": username, "password": password, "csrftoken": csrf_field(form.text)}
    return await client.post(f"{base}/login", data=data, headers=headers)


def csrf_header(client: httpx.AsyncClient) -> dict[str, str]:
    """What the admin's scripts send with a POST: the CSRF cookie's value as a header."""
    return {"X-CSRFToken": client.cookies.get(CSRF_COOKIE) or ""}


async def logout(client: httpx.AsyncClient, base: str) -> httpx.Response:
    page = await client.get(f"{base}/")
    return await client.post(f"{base}/logout", data={"csrftoken": csrf_field(page.text)})
