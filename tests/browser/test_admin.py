"""Both admins in Chromium, through the gateway, as an operator uses them: no way in without
the password, a wrong one refused, a bounded number of tries, the users with their records'
count and size (and never a token), a record played and then deleted from the admin and so
gone from the page, the questions searched and filtered, logout. The page fixture checks
every test's console and requests (no error, nothing from another origin)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

import httpx
import pytest
from selenium.webdriver.support.select import Select

from shared.admin.login import TOO_MANY_ATTEMPTS, WRONG_CREDENTIALS
from testkit.wav import tone_wav
from tests.browser.admin import LOGIN_ATTEMPTS_PER_CLIENT, AdminPage
from tests.browser.pages import Page, unique

pytestmark = pytest.mark.browser

TOKEN_SECRET = "browser-tests-secret-not-for-production"  # conftest's AUDIO_TOKEN_SECRET


def secret_forms(token: str) -> list[str]:
    """The token and every way a page could spell its stored HMAC."""
    digest = hmac.new(TOKEN_SECRET.encode(), token.encode(), hashlib.sha256).digest()
    return [
        token,
        token.replace("-", ""),
        digest.hex(),
        base64.b64encode(digest).decode(),
        base64.urlsafe_b64encode(digest).decode().rstrip("="),
    ]


def upload(api: httpx.Client, user_id: int, token: str, name: str) -> dict[str, Any]:
    wav = tone_wav(330.0, 3.0, sample_rate=16_000)
    response = api.post(
        "/record",
        data={"user_id": str(user_id), "token": token},
        files={"file": (name, wav, "audio/wav")},
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def test_audio_admin_login_users_records_delete_and_logout(
    page: Page, api: httpx.Client, expect_missing_peaks: None
) -> None:
    audio = AdminPage(page, "/admin/audio")
    audio.forget_logins()
    user_name = unique("admin-listener")
    user_id, token = page.create_account(user_name)
    page.dismiss_token()
    kept_name, dropped_name = f"{unique('kept')}.wav", f"{unique('dropped')}.wav"
    kept = upload(api, user_id, token, kept_name)
    dropped = upload(api, user_id, token, dropped_name)
    page.open()
    page.record_item(kept_name)
    page.record_item(dropped_name)

    # No way in without the password: every page is the login form, with nothing stored.
    for path in ("/", "/user/list", "/record/list", f"/record/detail?pk={kept['record_id']}"):
        audio.open(path)
        assert audio.on_login_page(), path
        assert user_name not in page.driver.page_source

    # A wrong password is a plain refusal; the right one leads to the page asked for.
    page.expect_http_error(400, "/admin/audio/login")
    audio.login(password="not the admin password")
    assert audio.on_login_page()
    assert audio.alert() == WRONG_CREDENTIALS
    assert page.text_of("h2") == "Sign in to the Audio admin"
    audio.screenshot("admin-login-refused")
    audio.login()
    assert audio.path().startswith("/admin/audio/record/detail")

    # Users: the number and size of their records, never their token or its hash.
    audio.open("/user/list")
    audio.search(user_name)
    (row,) = audio.rows()
    assert (row["name"], row["record_count"]) == (user_name, "2")
    assert row["record_bytes"] == str(
        kept["output"]["size_bytes"] + dropped["output"]["size_bytes"]
    )
    audio.screenshot("admin-users")
    seen = [page.driver.page_source]
    audio.open(f"/user/detail?pk={user_id}")
    seen.append(page.driver.page_source)

    # Records: metadata, a player and a download link on the record's public URL.
    audio.open("/record/list")
    audio.search(user_name)
    assert sorted(row["original_filename"] for row in audio.rows()) == sorted(
        [kept_name, dropped_name]
    )
    link = f"/record?id={kept['record_id']}&user={user_id}"
    item = audio.row(kept["record_id"])
    assert page.find("a[download]", item).get_attribute("href") == f"{page.origin}{link}"
    page.js("arguments[0].querySelector('audio').play()", item)
    audio.wait(
        lambda d: page.js("return arguments[0].querySelector('audio').currentTime", item) > 0.2,
        message="the record did not play from the admin",
    )
    page.js("arguments[0].querySelector('audio').pause()", item)
    audio.screenshot("admin-records")
    seen.append(page.driver.page_source)
    audio.open(f"/record/detail?pk={kept['record_id']}")
    assert "3.0" in page.text_of("table")  # the duration
    audio.screenshot("admin-record")
    seen.append(page.driver.page_source)
    for source in seen:
        for secret in secret_forms(token):
            assert secret not in source

    # Delete one record, after the confirmation.
    audio.open("/record/list")
    audio.search(user_name)
    page.find('a[data-sa-name="delete"]', audio.row(dropped["record_id"])).click()
    audio.submit_and_wait(audio.visible("#actionSubmit"))
    assert [row["pk"] for row in audio.rows()] == [kept["record_id"]]
    assert f'"{dropped_name} of {user_name}" was successfully deleted' in audio.alert()
    listed = api.get(f"/user/{user_id}/records", headers={"Authorization": f"Bearer {token}"})
    assert [item["record_id"] for item in listed.json()["items"]] == [kept["record_id"]]

    # ...and it is gone from the page.
    page.open()
    page.record_item(kept_name)
    assert dropped_name not in page.record_titles()

    # Logout: the admin is closed again.
    audio.open("/user/list")
    audio.logout()
    assert audio.on_login_page()
    audio.open("/user/list")
    assert audio.on_login_page()


def test_quiz_admin_search_filter_raw_item_logout_and_bounded_logins(
    page: Page, api: httpx.Client
) -> None:
    quiz = AdminPage(page, "/admin/quiz")
    quiz.forget_logins()
    assert api.post("/quiz", json={"questions_num": 6}).status_code == 200
    stored = api.get("/quiz/questions", params={"limit": 100}).json()["items"]
    target = max(stored, key=lambda q: len(q["question"]))

    quiz.open("/question/list")
    assert quiz.on_login_page()
    quiz.login()  # login attempt 1
    assert quiz.path().startswith("/admin/quiz/question/list")

    # Search by text: a word of the question.
    word = max(re.findall(r"[A-Za-z]{4,}", target["question"]), key=len)
    quiz.search(word)
    rows = quiz.rows()
    assert str(target["id"]) in [row["pk"] for row in rows]
    assert all(word.lower() in row["question"].lower() for row in rows)

    # Filter by category, in the filter builder.
    quiz.open("/question/list")
    page.find("#filter-builder-dropdown button").click()
    quiz.visible('[data-sa-action="add-filter-row"]').click()
    field = quiz.visible('[data-sa-hook="filter-rows"] [data-sa-hook="filter-row-field"]')
    Select(field).select_by_value("category")
    Select(page.find('[data-sa-hook="filter-row-op"]')).select_by_value("eq")
    page.find('[data-sa-hook="filter-row-value"]').send_keys(target["category"])
    quiz.submit_and_wait(page.find('#filter-form button[type="submit"]'))
    rows = quiz.rows()
    assert rows
    assert {row["category"] for row in rows} == {target["category"]}
    assert str(target["id"]) in [row["pk"] for row in rows]
    quiz.screenshot("admin-questions")

    # A question's page: the raw item the upstream sent.
    quiz.open(f"/question/detail?pk={target['id']}")
    raw = page.text_of('td[data-column="raw"], .json-document, table')
    assert f'"id": {target["upstream_id"]}' in raw or target["upstream_id"] in raw
    assert "category" in raw
    quiz.screenshot("admin-question")

    quiz.logout()
    assert quiz.on_login_page()

    # Login attempts from one address are bounded: once they are spent, even the right
    # password is refused unchecked.
    page.expect_http_error(400, "/admin/quiz/login")
    for _ in range(LOGIN_ATTEMPTS_PER_CLIENT - 1):
        quiz.login(password="a guess")
        assert quiz.alert() == WRONG_CREDENTIALS
    page.expect_http_error(429, "/admin/quiz/login")
    quiz.login()
    assert quiz.on_login_page()
    assert quiz.alert() == TOO_MANY_ATTEMPTS
    quiz.open("/question/list")
    assert quiz.on_login_page()
