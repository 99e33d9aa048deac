"""Both services' admins as an operator uses them, in Selenium terms.

The session's stack runs with both admins on (``admin_env``): one password for both (hashed
by the command the README gives, with its real Argon2id parameters) and a login budget
small enough that a test reaches it (``LOGIN_ATTEMPTS_PER_CLIENT``). Waits are WebDriverWait
on DOM conditions, never sleeps.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from shared.admin.password import hash_password
from tests.browser.pages import Page

ADMIN_USERNAME = "operator"
ADMIN_PASSWORD = "browser-tests-admin-password"
LOGIN_ATTEMPTS_PER_CLIENT = 4
SCREENSHOT_WIDTH = 1280
# Page loads here take tens of milliseconds: polled every 20 ms, not WebDriverWait's 500.
POLL_S = 0.02
WAIT_S = 20.0


@cache
def admin_env() -> dict[str, str]:
    password_hash = hash_password(ADMIN_PASSWORD)
    env: dict[str, str] = {}
    for prefix in ("QUIZ", "AUDIO"):
        env |= {
            f"{prefix}_ADMIN_PASSWORD_HASH": password_hash,
            f"{prefix}_ADMIN_SECRET_KEY": f"browser-tests-{prefix.lower()}-admin-key-0123456789",
            f"{prefix}_ADMIN_USERNAME": ADMIN_USERNAME,
            f"{prefix}_ADMIN_LOGIN_ATTEMPTS_PER_CLIENT": str(LOGIN_ATTEMPTS_PER_CLIENT),
        }
    return env


class AdminPage:
    """One service's admin (``base`` is ``/admin/quiz`` or ``/admin/audio``) in the browser."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.driver: webdriver.Chrome = page.driver
        self.base = base
        self.url = f"{page.origin}{base}"

    def wait(self, condition: Callable[[webdriver.Chrome], Any], message: str = "") -> Any:
        return WebDriverWait(self.driver, WAIT_S, poll_frequency=POLL_S).until(condition, message)

    def visible(self, css: str) -> WebElement:
        def shown(driver: webdriver.Chrome) -> WebElement | bool:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            return found[0] if found and found[0].is_displayed() else False

        element = self.wait(shown, f"{css} never became visible")
        assert isinstance(element, WebElement)
        return element

    def loaded(self) -> None:
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")

    # --- navigation ---
    def forget_logins(self) -> None:
        """Drops every cookie, as a browser that never signed in."""
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})

    def open(self, path: str) -> None:
        self.driver.get(f"{self.url}{path}")
        self.loaded()

    def path(self) -> str:
        current: str = self.driver.current_url
        return current.removeprefix(self.page.origin)

    def submit_and_wait(self, button: WebElement) -> None:
        """Clicks a button that sends its form, and waits for the next page."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        button.click()
        self.wait(expected_conditions.staleness_of(old), message="no new page came")
        self.loaded()

    # --- login ---
    def on_login_page(self) -> bool:
        return self.path().startswith(f"{self.base}/login") and bool(
            self.page.find_all("form #password")
        )

    def login(self, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD) -> None:
        name = self.visible("#username")
        name.clear()
        name.send_keys(username)
        secret = self.page.find("#password")
        secret.clear()
        secret.send_keys(password)
        self.submit_and_wait(self.page.find("form button[type=submit]"))

    def alert(self) -> str:
        """The text of the page's message (a refused login, a deleted record...)."""
        found = self.page.find_all(".alert-description, .alert .toast-body, .alert")
        return found[0].text.strip() if found else ""

    def logout(self) -> None:
        """Logout, from the user menu of the header (the side bar has one for narrow screens)."""
        menus = self.page.find_all('[aria-label="Open user menu"]')
        next(menu for menu in menus if menu.is_displayed()).click()
        self.submit_and_wait(self.visible(".dropdown-menu.show button[type=submit]"))

    # --- lists ---
    def rows(self) -> list[dict[str, str]]:
        """The list's rows: each column's text by column name, and the row's key as "pk"."""
        rows: list[dict[str, str]] = self.page.js(
            """
            return Array.from(document.querySelectorAll('tbody tr[data-sa-pk]'), (tr) => {
              const row = {pk: tr.dataset.saPk};
              for (const td of tr.querySelectorAll('td[data-column]')) {
                row[td.dataset.column] = td.innerText.trim();
              }
              return row;
            });
            """
        )
        return rows

    def row(self, pk: str) -> WebElement:
        return self.page.find(f'tbody tr[data-sa-pk="{pk}"]')

    def search(self, text: str) -> None:
        box = self.visible('input[name="q"]')
        box.clear()
        box.send_keys(text)
        self.submit_and_wait(self.page.find('button[aria-label="Search"]'))

    # --- screenshots ---
    def screenshot(self, name: str) -> Path:
        """The whole page at 1280 px, the window as tall as the page (so the side bar, which
        is as tall as the window, reaches the bottom)."""
        metrics = {"width": SCREENSHOT_WIDTH, "deviceScaleFactor": 1, "mobile": False}
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**metrics, "height": 800}
        )
        height = max(800, int(self.page.js("return document.documentElement.scrollHeight")))
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**metrics, "height": height}
        )
        try:
            shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        path = self.page.artifacts / "screenshots" / f"{name}-{SCREENSHOT_WIDTH}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
