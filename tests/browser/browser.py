"""Debian's Chromium under Selenium, and what it logs.

``start_chromium`` starts the system browser (never a downloaded one) headless, with a fresh
profile, a fake microphone (Chromium's built-in test tone), autoplay allowed, downloads into
a given directory and every console message and network event kept (``goog:loggingPrefs``).
``BrowserLog`` reads those logs back and judges them after each test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_INSTALL_HINT = "apt-get install -y chromium chromium-driver"

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # The machine has no network beyond the package registries: Chromium must not try.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--autoplay-policy=no-user-gesture-required",
    # getUserMedia answers at once with Chromium's fake capture device (a beeping tone).
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--mute-audio",
    "--window-size=1280,900",
)

# "http://host:port/path - Failed to load resource: the server responded with a status of 404"
_FAILED_RESOURCE = re.compile(
    r"^(?P<url>\S+) - Failed to load resource: the server responded with a status of "
    r"(?P<status>\d{3})"
)


def start_chromium(*, profile: Path, downloads: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": True},
    )
    return driver


@dataclass(frozen=True)
class HttpError:
    """A response of status >= 400 the browser logged as a failed resource."""

    status: int
    path: str


@dataclass
class BrowserLog:
    """The console and network log of one browser, test by test."""

    origin: str
    requests_file: Path
    console: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    test_name: str = ""

    def start_test(self, name: str = "") -> None:
        self.console = []
        self.requests = []
        self.test_name = name

    def drain(self, driver: webdriver.Chrome) -> None:
        """Reads (and so empties) the browser's log buffers."""
        self.console += driver.get_log("browser")  # type: ignore[no-untyped-call]
        with self.requests_file.open("a", encoding="utf-8") as out:
            for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
                message = json.loads(entry["message"])["message"]
                if message.get("method") != "Network.requestWillBeSent":
                    continue
                request = message["params"]["request"]
                url = request["url"]
                self.requests.append(url)
                line = {"test": self.test_name, "method": request.get("method"), "url": url}
                out.write(json.dumps(line) + "\n")

    def foreign_requests(self) -> list[str]:
        """Requests to anything but the page's origin (data: and blob: URLs are local)."""
        origin = urlsplit(self.origin)
        foreign = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
                foreign.append(url)
        return foreign

    def http_errors(self) -> list[HttpError]:
        errors = []
        for entry in self.console:
            match = _FAILED_RESOURCE.match(entry.get("message", ""))
            if entry.get("source") == "network" and match:
                errors.append(HttpError(int(match["status"]), urlsplit(match["url"]).path))
        return errors

    def console_errors(self) -> list[str]:
        """Console errors other than failed resources (script errors, CSP violations...)."""
        return [
            entry["message"]
            for entry in self.console
            if entry.get("level") == "SEVERE"
            and not (entry.get("source") == "network" and _FAILED_RESOURCE.match(entry["message"]))
        ]

    def check(self, expected_errors: set[HttpError]) -> None:
        assert self.requests, "the performance log recorded no request at all"
        foreign = self.foreign_requests()
        assert foreign == [], f"requests left the page's origin: {foreign}"
        errors = self.console_errors()
        assert errors == [], f"the browser console has errors: {errors}"
        unexpected = [error for error in self.http_errors() if error not in expected_errors]
        assert unexpected == [], f"HTTP errors the test did not expect: {unexpected}"
