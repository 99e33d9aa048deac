"""Deterministic jservice-shaped clues: the same (seed, id, quirk settings) gives the same item.

The id lays clues out like jservice's database: 60 clues per game (two rounds of six
categories by five rows), so ``category_id``, ``value``, ``game_id`` and ``airdate`` follow
from the id alone, and clues of one category share its title and theme.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from random import Random
from typing import TypedDict

from jservice_emulator import vocab
from jservice_emulator.settings import QuirkKind

CATEGORIES_PER_ROUND = 6
ROWS = 5
CLUES_PER_ROUND = CATEGORIES_PER_ROUND * ROWS
_IMPORT_STARTED = datetime(2014, 2, 11, 22, 47, 18, 600_000, tzinfo=UTC)
_FIRST_SHOW = date(1984, 9, 10)  # a Monday; shows air on weekdays
_GAMES_CYCLE = 9_000  # keeps airdates before 2020 however large the pool
_JUNK_ANSWERS = ("week", "=", "?", "...")


class Category(TypedDict):
    id: int
    title: str
    created_at: str
    updated_at: str
    clues_count: int


class Clue(TypedDict):
    id: int
    answer: str
    question: str
    value: int | None
    airdate: str
    created_at: str
    updated_at: str
    category_id: int
    game_id: int | None
    invalid_count: int | None
    category: Category


def rails_timestamp(moment: datetime) -> str:
    """Rails' JSON time format: milliseconds and a literal ``Z``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class _CategoryInfo:
    title: str
    created_at: str
    clues_count: int
    theme: vocab.Theme


@lru_cache(maxsize=8192)
def _category_info(seed: int, category_id: int) -> _CategoryInfo:
    rng = Random(f"jservice-emulator:{seed}:category:{category_id}")
    theme = rng.choice(vocab.THEMES)
    round_no, cat_index = divmod(category_id - 1, CATEGORIES_PER_ROUND)
    first_clue_id = round_no * CLUES_PER_ROUND + cat_index + 1
    # Categories were inserted just before their first clue during the one-off import.
    created = _IMPORT_STARTED + timedelta(milliseconds=first_clue_id * 11 - 90)
    # Titles recur across games in jservice, so many categories hold more than five clues.
    clues_count = ROWS if rng.random() < 0.4 else ROWS * rng.randint(2, 22)
    return _CategoryInfo(rng.choice(theme.titles), rails_timestamp(created), clues_count, theme)


def _airdate(game_index: int) -> tuple[str, int]:
    weeks, weekday = divmod(game_index % _GAMES_CYCLE, 5)
    aired = _FIRST_SHOW + timedelta(weeks=weeks, days=weekday)
    # jservice's airdate hour drifts between eras; consumers must not rely on it.
    hour = 12 if aired.year < 2008 else 19
    return f"{aired.isoformat()}T{hour:02d}:00:00.000Z", aired.year


def _round_base(round_no: int) -> int:
    """A row's step on the board in this round: $100 or $200 (from 2001), doubled in the
    second round of a game."""
    _, aired_year = _airdate(round_no // 2)
    return (100 if aired_year < 2001 else 200) * (2 if round_no % 2 else 1)


def ids_with_value(value: int, pool_size: int) -> Iterator[int]:
    """The ids up to ``pool_size`` whose clean clue has this value, in id order, without
    making the clues (a quirk may still null a value: check the clue itself)."""
    for round_no in range(math.ceil(pool_size / CLUES_PER_ROUND)):
        row, rest = divmod(value, _round_base(round_no))
        if rest or not 1 <= row <= ROWS:
            continue
        first = round_no * CLUES_PER_ROUND + (row - 1) * CATEGORIES_PER_ROUND + 1
        yield from range(first, min(first + CATEGORIES_PER_ROUND, pool_size + 1))


def make_clue(
    clue_id: int,
    *,
    seed: int = 0,
    quirk_rate: float = 0.0,
    quirk_kinds: Sequence[QuirkKind] = (),
) -> Clue:
    """The clue with this id; a quirk replaces part of it with probability ``quirk_rate``."""
    round_no, within = divmod(clue_id - 1, CLUES_PER_ROUND)
    row, cat_index = divmod(within, CATEGORIES_PER_ROUND)
    category_id = round_no * CATEGORIES_PER_ROUND + cat_index + 1
    info = _category_info(seed, category_id)
    airdate, _ = _airdate(round_no // 2)

    rng = Random(f"jservice-emulator:{seed}:clue:{clue_id}")
    question, answer = info.theme.make(rng)
    created = rails_timestamp(
        _IMPORT_STARTED + timedelta(milliseconds=clue_id * 11 + rng.randint(0, 9))
    )
    clue: Clue = {
        "id": clue_id,
        "answer": answer,
        "question": question,
        "value": _round_base(round_no) * (row + 1),
        "airdate": airdate,
        "created_at": created,
        "updated_at": created,
        "category_id": category_id,
        "game_id": round_no // 2 + 1,
        "invalid_count": None,
        "category": {
            "id": category_id,
            "title": info.title,
            "created_at": info.created_at,
            "updated_at": info.created_at,
            "clues_count": info.clues_count,
        },
    }
    # Its own stream, so that changing quirk settings never changes the clean content.
    quirk_rng = Random(f"jservice-emulator:{seed}:quirk:{clue_id}")
    roll, pick = quirk_rng.random(), quirk_rng.random()
    if quirk_kinds and roll < quirk_rate:
        _apply_quirk(clue, quirk_kinds[int(pick * len(quirk_kinds))], quirk_rng)
    return clue


def _apply_quirk(clue: Clue, kind: QuirkKind, rng: Random) -> None:
    match kind:
        case "null_value":
            clue["value"] = None
        case "null_game_id":
            clue["game_id"] = None
        case "invalid_flag":
            # A user-flagged clue: counted and touched years after the import.
            clue["invalid_count"] = rng.randint(1, 3)
            since_2015 = timedelta(seconds=rng.randint(0, 5 * 365 * 86400))
            flagged = datetime(2015, 1, 1, tzinfo=UTC) + since_2015
            clue["updated_at"] = rails_timestamp(
                flagged.replace(microsecond=rng.randint(0, 999_999))
            )
        case "empty_question":
            clue["question"] = ""
            clue["value"] = None
            clue["answer"] = rng.choice(_JUNK_ANSWERS)
        case "equals_question":
            clue["question"] = "="
        case "html_answer":
            clue["answer"] = f"<i>{clue['answer']}</i>"
        case "escaped_quote":
            clue["answer"] = f"{clue['answer']}\\'s {vocab.noun(rng)}"
        case "ampersand":
            clue["question"] = f"{clue['question']}, say {vocab.person(rng)} & {vocab.person(rng)}"
        case "mojibake":
            answer = clue["answer"]
            # UTF-8 "é" read back as Latin-1, as jservice's scraper sometimes stored it.
            clue["answer"] = answer.replace("e", "Ã©", 1) if "e" in answer else f"{answer}Ã©"
        case "media_clue":
            question = clue["question"]
            clue["question"] = f"Seen here, {question[:1].lower()}{question[1:]}"
