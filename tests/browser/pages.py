"""The page as a person uses it: what they see and do, in Selenium terms.

Waits are WebDriverWait on DOM conditions, never sleeps.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser.browser import HttpError

T = TypeVar("T")
DEFAULT_WAIT_S = 20.0

# Records what the upload progress bars show: every value the page gives any <progress>.
# The page sets progress.value, which is reflected in the value attribute, so a
# MutationObserver sees each step of the bar as the browser reports upload progress.
RECORD_PROGRESS_VALUES = """
window.__progress = [];
new MutationObserver((mutations) => {
  for (const m of mutations) {
    if (m.target instanceof HTMLProgressElement) {
      window.__progress.push({value: m.target.value, max: m.target.max,
                              label: m.target.getAttribute('aria-label')});
    }
  }
}).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['value', 'max']});
"""

# Drops files (given as base64) on an element as a person dragging them from a file manager
# would: dragenter, dragover and drop with a DataTransfer that holds them.
DROP_FILES = """
const [target, files] = arguments;
const transfer = new DataTransfer();
for (const [name, type, b64] of files) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  transfer.items.add(new File([bytes], name, {type}));
}
for (const type of ['dragenter', 'dragover', 'drop']) {
  target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,
                                            dataTransfer: transfer}));
}
"""


def unique(stem: str) -> str:
    """A name no other test (or run) uses."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"


class Page:
    def __init__(self, driver: webdriver.Chrome, origin: str, artifacts: Path) -> None:
        self.driver = driver
        self.origin = origin
        self.artifacts = artifacts
        self.expected_http_errors: set[HttpError] = set()

    # --- navigation ---
    def reset(self) -> None:
        """A blank start: the origin's storage cleared (signed out), desktop viewport."""
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        self.driver.get("about:blank")
        self.driver.execute_cdp_cmd(
            "Storage.clearDataForOrigin",
            {"origin": self.origin, "storageTypes": "local_storage,session_storage"},
        )

    def open(self) -> None:
        self.driver.get(f"{self.origin}/")
        self.wait(
            lambda d: d.execute_script(
                "return document.documentElement.classList.contains('is-ready')"
            )
        )

    def expect_http_error(self, status: int, path: str) -> None:
        """The test causes this error on purpose (the browser logs it as a failed load)."""
        self.expected_http_errors.add(HttpError(status, path))

    # --- finding and waiting ---
    def wait(
        self,
        condition: Callable[[webdriver.Chrome], T],
        timeout: float = DEFAULT_WAIT_S,
        message: str = "",
    ) -> T:
        # A list the page re-renders can swap an element out between finding and reading it.
        waiting = WebDriverWait(
            self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
        )
        return waiting.until(condition, message)

    def wait_for_element(
        self,
        condition: Callable[[webdriver.Chrome], WebElement | None],
        timeout: float = DEFAULT_WAIT_S,
        message: str = "",
    ) -> WebElement:
        """Waits until ``condition`` finds an element (None: not yet)."""
        element = self.wait(lambda d: condition(d) or False, timeout, message)
        assert isinstance(element, WebElement)
        return element

    def find(self, css: str, root: WebElement | None = None) -> WebElement:
        return (root or self.driver).find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str, root: WebElement | None = None) -> list[WebElement]:
        return (root or self.driver).find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str, timeout: float = DEFAULT_WAIT_S) -> WebElement:
        def shown(driver: webdriver.Chrome) -> WebElement | None:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            return found[0] if found and found[0].is_displayed() else None

        return self.wait_for_element(shown, timeout, f"{css} never became visible")

    def text_of(self, css: str) -> str:
        return self.find(css).text

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    # --- quiz ---
    def ask_quiz(self, count: int) -> None:
        """Asks for ``count`` questions and waits until that request is over: the click
        disables the button and says "Fetching…" before the page awaits anything, so an
        enabled button with "Stored …" can only be this request's outcome."""
        field = self.find("#quiz-count")
        field.clear()
        field.send_keys(str(count))
        self.find("#quiz-form button[type=submit]").click()
        expected = "Stored 1 new question." if count == 1 else f"Stored {count} new questions."
        self.wait(
            lambda d: self.js(
                "const b = document.querySelector('#quiz-form button[type=submit]');"
                "return !b.disabled && document.getElementById('quiz-progress').textContent"
                " === arguments[0];",
                expected,
            ),
            message=f"no '{expected}': {self.text_of('#quiz-progress')}",
        )

    # --- account ---
    def create_account(self, name: str) -> tuple[int, str]:
        """Signs up through the form; returns (user id, token) as the page shows them."""
        field = self.visible("#user-name")
        field.clear()
        field.send_keys(name)
        self.find("#create-form button[type=submit]").click()
        token_field = self.visible("#token-value")
        token = str(token_field.get_attribute("value"))
        saved = self.js("return JSON.parse(localStorage.getItem('quiz-audio.account'))")
        return int(saved["userId"]), token

    def dismiss_token(self) -> None:
        self.find("#token-done").click()
        self.wait(lambda d: not self.find("#token-once").is_displayed())

    # --- uploads ---
    def record_progress(self) -> None:
        self.js(RECORD_PROGRESS_VALUES)

    def progress_values(self) -> list[dict[str, Any]]:
        values: list[dict[str, Any]] = self.js("return window.__progress || []")
        return values

    def choose_files(self, *paths: Path) -> None:
        self.find("#file-input").send_keys("\n".join(str(p) for p in paths))

    def drop_files(self, files: list[tuple[str, str, bytes]]) -> None:
        encoded = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
        self.js(DROP_FILES, self.find("#drop-zone"), encoded)

    def upload_row(self, name: str) -> WebElement:
        def row(driver: webdriver.Chrome) -> WebElement | None:
            for item in self.find_all("#upload-list .upload"):
                if self.find(".upload-name", item).text == name:
                    return item
            return None

        return self.wait_for_element(row, message=f"no upload row for {name}")

    def upload_outcome(self, name: str, timeout: float = 60) -> tuple[str, str]:
        """(state, status text) of a file's upload once it is finished: done or error."""
        row = self.upload_row(name)
        self.wait(
            lambda d: row.get_attribute("data-state") in ("done", "error"),
            timeout,
            f"the upload of {name} did not finish",
        )
        return str(row.get_attribute("data-state")), self.find(".upload-status", row).text

    # --- records ---
    def record_item(self, title: str, timeout: float = DEFAULT_WAIT_S) -> WebElement:
        def item(driver: webdriver.Chrome) -> WebElement | None:
            for element in self.find_all("#record-list .record"):
                if self.find(".record-title", element).text == title:
                    return element
            return None

        return self.wait_for_element(item, timeout, f"no record titled {title}")

    def texts(self, css: str) -> list[str]:
        """The rendered text of every element matching ``css``, read in one go."""
        found: list[str] = self.js(
            "return Array.from(document.querySelectorAll(arguments[0]), (e) => e.innerText)", css
        )
        return found

    def record_titles(self) -> list[str]:
        return self.texts("#record-list .record .record-title")

    # --- screenshots ---
    def screenshot(self, name: str, width: int, mobile: bool) -> Path:
        """The whole page (not just the viewport) at ``width`` CSS pixels, as a PNG."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": mobile},
        )
        height = int(self.js("return Math.ceil(document.documentElement.scrollHeight)"))
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path = self.artifacts / "screenshots" / f"{name}-{width}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
