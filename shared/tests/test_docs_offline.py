"""The docs pages load Swagger UI and ReDoc from the service, under the gateway's prefix too,
and the vendored files are the ones vendor.json lists, each with its license."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from quiz_service.main import create_app
from quiz_service.settings import QuizSettings
from shared.docs import ASSETS_DIR, vendored_files

ASSET_REFERENCE = re.compile(r'(?:src|href)="([^"]+)"|url: *[\'"]([^\'"]+)[\'"]')


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # The pages need no database: the app is not even started.
    app = create_app(QuizSettings(database_url="sqlite+aiosqlite:///:memory:"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.mark.parametrize("prefix", ["", "/services/quiz"])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_pages_load_only_the_services_own_files(
    client: httpx.AsyncClient, prefix: str, page: str
) -> None:
    headers = {"X-Forwarded-Prefix": prefix} if prefix else {}
    response = await client.get(page, headers=headers)
    assert response.status_code == 200
    assert "cdn." not in response.text
    assert "fonts.googleapis" not in response.text
    references = [a or b for a, b in ASSET_REFERENCE.findall(response.text)]
    assets = [ref for ref in references if "/docs-assets/" in ref]
    assert len(assets) >= 2, references
    assert all(ref.startswith(f"{prefix}/") for ref in references), references
    for ref in assets:
        asset = await client.get(ref.removeprefix(prefix), headers=headers)
        assert asset.status_code == 200, ref
        assert asset.headers["cache-control"].startswith("public")


async def test_swagger_ui_sends_nothing_to_the_validator(client: httpx.AsyncClient) -> None:
    assert '"validatorUrl": null' in (await client.get("/docs")).text


async def test_only_listed_files_are_served(client: httpx.AsyncClient) -> None:
    for path in ("/docs-assets/vendor.json", "/docs-assets/redoc/x.js", "/docs-assets/../app.py"):
        assert (await client.get(path)).status_code == 404, path


def test_every_vendored_file_is_listed_present_and_licensed() -> None:
    manifest = json.loads((ASSETS_DIR / "vendor.json").read_text())
    files = vendored_files()
    on_disk = {
        f"{path.parent.name}/{path.name}" for path in ASSETS_DIR.glob("*/*") if path.is_file()
    }
    assert set(files) == on_disk
    for entry in manifest:
        assert "LICENSE" in entry["files"], entry["package"]
        assert entry["integrity"].startswith("sha512-")
        for patch in entry["patches"]:
            patched = (ASSETS_DIR / entry["directory"] / patch["file"]).read_text()
            assert patch["replace"] not in patched
            assert patch["with"] in patched
