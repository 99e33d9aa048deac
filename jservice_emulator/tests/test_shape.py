"""Generated clues against the real jservice sample: same keys, same JSON types, same formats."""

from __future__ import annotations

import re
from typing import Any

import pytest

from jservice_emulator.questions import ids_with_value, make_clue
from jservice_emulator.settings import ALL_QUIRK_KINDS, QuirkKind
from jservice_emulator.tests import emulator, fetch
from testkit.jservice_contract import AIRDATE, RAILS_TIME, SAMPLE
from testkit.jservice_contract import clue_problems as shape_problems


def test_sample_passes_its_own_shape_check() -> None:
    assert [shape_problems(item) for item in SAMPLE] == [[]] * len(SAMPLE)
    assert all(AIRDATE.fullmatch(item["airdate"]) for item in SAMPLE)
    assert all(RAILS_TIME.fullmatch(item["created_at"]) for item in SAMPLE)


async def test_items_match_the_real_shape_and_formats() -> None:
    async with emulator(quirk_rate=0.5, seed=7) as client:
        response = await fetch(client, 100)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    items = response.json()
    assert len(items) == 100
    for item in items:
        assert shape_problems(item) == [], item
        assert AIRDATE.fullmatch(item["airdate"])
        for stamp in (item["created_at"], item["updated_at"]):
            assert RAILS_TIME.fullmatch(stamp)
        category = item["category"]
        assert category["id"] == item["category_id"]
        assert RAILS_TIME.fullmatch(category["created_at"])
        assert category["title"] == category["title"].lower()


def test_content_is_a_function_of_seed_and_id() -> None:
    first = [
        make_clue(i, seed=3, quirk_rate=0.2, quirk_kinds=ALL_QUIRK_KINDS) for i in range(1, 50)
    ]
    again = [
        make_clue(i, seed=3, quirk_rate=0.2, quirk_kinds=ALL_QUIRK_KINDS) for i in range(1, 50)
    ]
    other_seed = [make_clue(i, seed=4) for i in range(1, 50)]
    assert first == again
    assert [c["question"] for c in first] != [c["question"] for c in other_seed]
    # Quirk settings only decide the quirks: the clean content underneath stays put.
    clean = make_clue(12_345, seed=3)
    quirky = make_clue(12_345, seed=3, quirk_rate=1.0, quirk_kinds=("null_value",))
    assert quirky["value"] is None
    assert {**quirky, "value": clean["value"]} == clean


async def test_same_id_same_item_across_processes() -> None:
    async with emulator(pool_size=5, seed=1) as one, emulator(pool_size=5, seed=1) as two:
        first = {item["id"]: item for item in (await fetch(one, 5)).json()}
        second = {item["id"]: item for item in (await fetch(two, 5)).json()}
    assert first == second
    assert set(first) == {1, 2, 3, 4, 5}


def test_clues_of_one_category_share_it() -> None:
    clues = [make_clue(i) for i in range(1, 61)]
    by_category: dict[int, set[str]] = {}
    for clue in clues:
        by_category.setdefault(clue["category_id"], set()).add(clue["category"]["title"])
    assert len(by_category) == 12  # two rounds of six per game
    assert all(len(titles) == 1 for titles in by_category.values())
    assert {clue["game_id"] for clue in clues} == {1}


def test_no_quirks_at_rate_zero() -> None:
    for clue in (make_clue(i, quirk_kinds=ALL_QUIRK_KINDS) for i in range(1, 500)):
        assert clue["value"] is not None
        assert clue["game_id"] is not None
        assert clue["invalid_count"] is None
        assert clue["question"] not in ("", "=")
        text = clue["question"] + clue["answer"]
        assert not any(mark in text for mark in ("<", "&", "\\", "Ã"))


QUIRK_CHECKS: dict[QuirkKind, Any] = {
    "null_value": lambda c: c["value"] is None,
    "null_game_id": lambda c: c["game_id"] is None,
    "invalid_flag": lambda c: c["invalid_count"] >= 1 and c["updated_at"] > c["created_at"],
    "empty_question": lambda c: c["question"] == "" and c["value"] is None and c["answer"],
    "equals_question": lambda c: c["question"] == "=",
    "html_answer": lambda c: re.fullmatch(r"<i>.+</i>", c["answer"]),
    "escaped_quote": lambda c: "\\'" in c["answer"],
    "ampersand": lambda c: " & " in c["question"],
    "mojibake": lambda c: "Ã©" in c["answer"],
    "media_clue": lambda c: c["question"].startswith("Seen here, "),
}


@pytest.mark.parametrize("kind", ALL_QUIRK_KINDS)
def test_each_quirk_kind(kind: QuirkKind) -> None:
    for clue_id in range(1, 40):
        clue = make_clue(clue_id, quirk_rate=1.0, quirk_kinds=(kind,))
        assert QUIRK_CHECKS[kind](clue), clue
        assert shape_problems(clue) == []


def test_quirk_rate_is_roughly_honoured() -> None:
    ids = range(1, 5001)
    quirky = sum(
        make_clue(i, quirk_rate=0.1, quirk_kinds=("null_value",))["value"] is None for i in ids
    )
    assert 400 <= quirky <= 600


async def test_html_is_escaped_in_the_raw_body_like_rails() -> None:
    async with emulator(quirk_rate=1.0, quirk_kinds=["html_answer", "ampersand"]) as client:
        response = await fetch(client, 20)
    assert "<" not in response.text
    assert "&" not in response.text
    assert "\\u003ci\\u003e" in response.text
    assert "\\u0026" in response.text
    answers = [item["answer"] for item in response.json()]
    assert any(answer.startswith("<i>") for answer in answers)


async def test_clues_endpoint_serves_the_same_shape() -> None:
    async with emulator(quirk_rate=0.5, seed=7) as client:
        page = (await client.get("/api/clues", params={"value": 400})).json()
        category = (await client.get("/api/clues", params={"category": 14})).json()
        bad = await client.get("/api/clues", params={"value": "lots"})
    assert len(page) == 100
    assert [shape_problems(item) for item in page + category] == [[]] * (len(page) + 5)
    assert all(item["value"] in (400, None) for item in page)  # a quirk may null it
    assert [item["category_id"] for item in category] == [14] * 5
    assert [item["id"] for item in page] == sorted(item["id"] for item in page)
    assert bad.status_code == 400


def test_ids_with_value_are_exactly_the_clues_of_that_value() -> None:
    pool = 3000
    for value in (100, 200, 400, 1000, 2000, 300, 7):
        expected = [i for i in range(1, pool + 1) if make_clue(i)["value"] == value]
        assert list(ids_with_value(value, pool)) == expected, value
