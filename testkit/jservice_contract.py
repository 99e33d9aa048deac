"""The one shape contract of jService's API, for everything that claims to speak it.

The jservice emulator (``jservice_emulator``) and the quiz service's own jService-compatible
API (``/quiz/api/*``) are both checked against these functions, so the two cannot drift
apart. Each returns what in a body would not pass for jService's (empty when it would).

Keys and JSON types come from the real items of ``data/jservice_items.json``, plus what those
old items cannot show: later clues carry an integer ``game_id``, and a clue whose air date is
unknown (a question from a provider without one) has a null ``airdate``. The formats are
Rails': timestamps with milliseconds and a literal ``Z``, airdates at 12:00 or 19:00 UTC.

The three shapes, as the open-source jService's models serialised them:

- a clue (``/api/random``, ``/api/final``, ``/api/clues``): every column of the clue and its
  category in full;
- a listed category (``/api/categories``): ``id, title, clues_count`` (no timestamps);
- a category (``/api/category``): the same three plus ``clues``, each clue without its
  timestamps and without a nested category.
"""

from __future__ import annotations

import re
from typing import Any

from testkit.jservice import jservice_items

RAILS_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
AIRDATE = re.compile(r"\d{4}-\d\d-\d\dT(12|19):00:00\.000Z")
NULLABLE_BEYOND_SAMPLE: dict[str, set[str]] = {"game_id": {"int"}, "airdate": {"null"}}
LISTED_CATEGORY_KEYS = {"id", "title", "clues_count"}
CATEGORY_CLUE_DROPPED = {"created_at", "updated_at", "category"}


def json_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def types_by_key(items: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for item in items:
        for key, value in item.items():
            found.setdefault(key, set()).add(json_type(value))
    return found


SAMPLE = jservice_items()
CLUE_TYPES = types_by_key(SAMPLE)
for _key, _extra in NULLABLE_BEYOND_SAMPLE.items():
    CLUE_TYPES[_key] |= _extra
CATEGORY_TYPES = types_by_key([item["category"] for item in SAMPLE])
CATEGORY_CLUE_TYPES = {
    key: types for key, types in CLUE_TYPES.items() if key not in CATEGORY_CLUE_DROPPED
}


def _typed(item: Any, types: dict[str, set[str]], where: str) -> list[str]:
    if not isinstance(item, dict):
        return [f"{where or 'item'} is {json_type(item)}"]
    problems = []
    if set(item) != set(types):
        problems.append(f"{where}keys differ: {sorted(set(item) ^ set(types))}")
    for key, value in item.items():
        if key in types and json_type(value) not in types[key]:
            problems.append(f"{where}{key} is {json_type(value)}")
    return problems


def _airdate_format(item: dict[str, Any], where: str) -> list[str]:
    airdate = item.get("airdate")
    if isinstance(airdate, str) and not AIRDATE.fullmatch(airdate):
        return [f"{where}airdate {airdate!r} is not jService's format"]
    return []


def clue_problems(item: Any) -> list[str]:
    """An item of ``/api/random``, ``/api/final`` or ``/api/clues``."""
    problems = _typed(item, CLUE_TYPES, "")
    if not isinstance(item, dict):
        return problems
    problems += _airdate_format(item, "")
    for key in ("created_at", "updated_at"):
        if isinstance(item.get(key), str) and not RAILS_TIME.fullmatch(item[key]):
            problems.append(f"{key} {item[key]!r} is not a Rails time")
    category = item.get("category")
    problems += _typed(category, CATEGORY_TYPES, "category.")
    if isinstance(category, dict):
        if category.get("id") != item.get("category_id"):
            problems.append("category.id differs from category_id")
        for key in ("created_at", "updated_at"):
            if isinstance(category.get(key), str) and not RAILS_TIME.fullmatch(category[key]):
                problems.append(f"category.{key} is not a Rails time")
    return problems


def listed_category_problems(item: Any) -> list[str]:
    """An item of ``/api/categories``."""
    types = {key: CATEGORY_TYPES[key] for key in LISTED_CATEGORY_KEYS}
    return _typed(item, types, "")


def category_problems(body: Any) -> list[str]:
    """The body of ``/api/category?id=``."""
    types = {key: CATEGORY_TYPES[key] for key in LISTED_CATEGORY_KEYS} | {"clues": {"list"}}
    problems = _typed(body, types, "")
    if not isinstance(body, dict) or not isinstance(body.get("clues"), list):
        return problems
    for index, clue in enumerate(body["clues"]):
        where = f"clues[{index}]."
        problems += _typed(clue, CATEGORY_CLUE_TYPES, where)
        if isinstance(clue, dict):
            problems += _airdate_format(clue, where)
            if clue.get("category_id") != body.get("id"):
                problems.append(f"{where}category_id differs from the category's id")
    return problems
