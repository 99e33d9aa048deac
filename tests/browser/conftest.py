"""The page in a real Chromium, against the real stack behind the real gateway.

One stack for the whole browser session (PostgreSQL, the jservice emulator, one instance of
each service, nginx with the project's template serving web/) and one Chromium (Debian's
``chromium`` + ``chromium-driver``, driven by Selenium). After every test, everything the
browser logged is checked: no console error, no request to another origin (all requests are
written to ``var/browser/requests.jsonl``), and only the HTTP errors the test said it causes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from devstack.gateway import REPO_ROOT
from devstack.stack import LocalStack
from testkit.postgres import temporary_database, unavailable
from tests.browser.admin import admin_env
from tests.browser.browser import (
    CHROMEDRIVER,
    CHROMIUM,
    CHROMIUM_INSTALL_HINT,
    BrowserLog,
    start_chromium,
)
from tests.browser.pages import Page
from tests.e2e.helpers import private_stack

ARTIFACTS = REPO_ROOT / "var" / "browser"
BROWSER_MAX_UPLOAD_BYTES = 16 * 1024 * 1024


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots and the request log, kept after the run (var/ is gitignored)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    (ARTIFACTS / "screenshots").mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
async def web_stack() -> AsyncIterator[LocalStack]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        unavailable(f"Chromium is needed for the browser tests: {CHROMIUM_INSTALL_HINT}")
    async with AsyncExitStack() as exit_stack:
        quiz_url = await exit_stack.enter_async_context(temporary_database("web_quiz"))
        audio_url = await exit_stack.enter_async_context(temporary_database("web_audio"))
        env = {
            "QUIZ_DATABASE_URL": quiz_url,
            "AUDIO_DATABASE_URL": audio_url,
            "AUDIO_MAX_UPLOAD_BYTES": str(BROWSER_MAX_UPLOAD_BYTES),
            "AUDIO_TOKEN_SECRET": "browser-tests-secret-not-for-production",
            **admin_env(),
        }
        with private_stack("browser", env) as stack:
            yield stack


@pytest.fixture
def api(web_stack: LocalStack) -> Iterator[httpx.Client]:
    """The test's own look behind the page: the same gateway, over HTTP."""
    with httpx.Client(base_url=web_stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def browser_log(web_stack: LocalStack, artifacts: Path) -> BrowserLog:
    return BrowserLog(origin=web_stack.gateway_url, requests_file=artifacts / "requests.jsonl")


@pytest.fixture(scope="session")
def chromium(artifacts: Path, web_stack: LocalStack) -> Iterator[object]:
    profile = Path(tempfile.mkdtemp(prefix="browser-profile-"))
    downloads = artifacts / "downloads"
    downloads.mkdir(exist_ok=True)
    driver = start_chromium(profile=profile, downloads=downloads)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(
    chromium: object, web_stack: LocalStack, browser_log: BrowserLog, artifacts: Path
) -> Iterator[Page]:
    """The page, freshly loaded and signed out; the browser's logs are checked afterwards."""
    page = Page(chromium, web_stack.gateway_url, artifacts)  # type: ignore[arg-type]
    page.reset()
    browser_log.drain(page.driver)  # what the reset itself logged is not this test's
    browser_log.start_test()
    page.open()
    yield page
    browser_log.drain(page.driver)
    browser_log.check(expected_errors=page.expected_http_errors)


@pytest.fixture(scope="session")
def peaks_available(web_stack: LocalStack) -> bool:
    """Whether the audio service has the waveform peaks endpoint (issue 10, item 5) yet."""
    spec = httpx.get(f"{web_stack.gateway_url}/services/audio/openapi.json", timeout=10).json()
    return "/record/peaks" in spec["paths"]


@pytest.fixture
def expect_missing_peaks(page: Page, peaks_available: bool) -> None:
    """While the service has no peaks endpoint, each listed record's peaks request is a 404
    (the page then draws no waveform). Once the endpoint exists, a 404 fails the test."""
    if not peaks_available:
        page.expect_http_error(404, "/record/peaks")
