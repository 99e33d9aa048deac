"""Swagger UI and ReDoc of both services, through the gateway, in Chromium: each renders
every operation of its service's OpenAPI document, with its files from the service itself
(the page fixture fails a test on any request to another origin or any console error)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devstack.stack import LocalStack
from tests.browser.admin import SCREENSHOT_WIDTH
from tests.browser.pages import Page

pytestmark = pytest.mark.browser

# What each page draws once per operation.
OPERATION_SELECTORS = {
    "docs": ".opblock",
    "redoc": '.api-content [data-section-id*="/operation/"]',
}


def operation_ids(web_stack: LocalStack, service: str) -> list[str]:
    spec: dict[str, Any] = httpx.get(
        f"{web_stack.gateway_url}/services/{service}/openapi.json", timeout=10
    ).json()
    return [
        operation["operationId"]
        for methods in spec["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]


@pytest.mark.parametrize("service", ["quiz", "audio"])
@pytest.mark.parametrize("kind", ["docs", "redoc"])
def test_the_docs_render_every_operation_with_the_services_own_files(
    page: Page, web_stack: LocalStack, service: str, kind: str
) -> None:
    expected = operation_ids(web_stack, service)
    assert expected
    base = f"/services/{service}"
    page.driver.get(f"{page.origin}{base}/{kind}")
    selector = OPERATION_SELECTORS[kind]
    page.wait(
        lambda d: len(page.find_all(selector)) >= len(expected),
        message=f"{kind} did not render the {len(expected)} operations of {service}",
    )
    assert len(page.find_all(selector)) == len(expected)
    scripts: list[str] = page.js(
        "return Array.from(document.querySelectorAll('script[src], link[rel=stylesheet]'),"
        " (e) => new URL(e.src || e.href).pathname)"
    )
    assert scripts
    assert all(path.startswith(f"{base}/docs-assets/") for path in scripts), scripts
    # Swagger UI's blocks are "operations-<tag>-<operationId>", ReDoc's sections
    # "tag/<tag>/operation/<operationId>".
    shown: str = page.js(
        "return Array.from(document.querySelectorAll(arguments[0]),"
        " (e) => e.id || e.dataset.sectionId).join(' ')",
        selector,
    )
    assert all(operation_id in shown for operation_id in expected), shown
    page.screenshot(f"{kind}-{service}", SCREENSHOT_WIDTH, mobile=False)
