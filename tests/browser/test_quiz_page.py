"""The quiz half of the page: ask for N questions, reveal the answer, browse page by page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.browser.pages import Page

pytestmark = pytest.mark.browser

PAGE_SIZE = 10  # the page's


def stored_page(api: httpx.Client, before_id: int | None = None) -> dict[str, Any]:
    params: dict[str, int] = {"limit": PAGE_SIZE}
    if before_id is not None:
        params["before_id"] = before_id
    response = api.get("/quiz/questions", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def shown_questions(page: Page) -> list[str]:
    return page.texts("#question-list > li .question-text")


def on_page(page: Page, number: int) -> Callable[[object], bool]:
    """A wait condition: the pager says "Page <number>"."""
    return lambda _driver: page.text_of("#questions-page") == f"Page {number}"


def test_ask_for_questions_and_reveal_the_answer(page: Page, api: httpx.Client) -> None:
    newest_before = stored_page(api)["items"][:1]
    page.ask_quiz(3)
    if not newest_before:
        # Nothing was stored before this request: the page says so instead of a question.
        assert page.visible("#quiz-result .empty").text.startswith("No question had been stored")
        newest_before = stored_page(api)["items"][:1]
        page.ask_quiz(2)
    [previous] = newest_before

    card = page.visible("#quiz-result .question")
    assert page.find(".question-text", card).text == previous["question"]
    assert page.find(".category", card).text == previous["category"].upper()
    answer = page.find(".answer p", card)
    assert not answer.is_displayed(), "the answer shows before it is asked for"
    page.find(".answer summary", card).click()
    page.wait(lambda d: answer.is_displayed())
    assert answer.text == previous["answer"]

    # The stored questions list was refreshed: it starts with what was just stored.
    page.wait(lambda d: shown_questions(page)[:1] == [stored_page(api)["items"][0]["question"]])


def test_stored_questions_page_by_page(page: Page, api: httpx.Client) -> None:
    response = api.post("/quiz", json={"questions_num": 25})
    assert response.status_code == 200, response.text
    page.open()

    first = stored_page(api)
    page.wait(lambda d: shown_questions(page) == [q["question"] for q in first["items"]])
    assert page.text_of("#questions-page") == "Page 1"
    assert not page.find("#questions-newer").is_enabled()

    second = stored_page(api, first["next_before_id"])
    page.find("#questions-older").click()
    page.wait(lambda d: shown_questions(page) == [q["question"] for q in second["items"]])
    assert page.text_of("#questions-page") == "Page 2"
    assert {q["id"] for q in first["items"]}.isdisjoint(q["id"] for q in second["items"])

    # Older pages until the last one, where "Older" cannot be pressed.
    pages = 2
    while page.find("#questions-older").is_enabled():
        page.find("#questions-older").click()
        pages += 1
        page.wait(on_page(page, pages))
    total = sum(1 for _ in iter_all(api))
    assert pages == -(-total // PAGE_SIZE)

    # And back: "Newer" returns to the pages seen before, in the same order.
    for number in range(pages - 1, 0, -1):
        page.find("#questions-newer").click()
        page.wait(on_page(page, number))
        if number == 2:
            assert shown_questions(page) == [q["question"] for q in second["items"]]
    page.wait(lambda d: shown_questions(page) == [q["question"] for q in first["items"]])
    assert not page.find("#questions-newer").is_enabled()


def iter_all(api: httpx.Client) -> Iterator[dict[str, Any]]:
    before: int | None = None
    while True:
        body = stored_page(api, before)
        yield from body["items"]
        before = body["next_before_id"]
        if before is None:
            return
