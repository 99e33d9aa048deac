"""What a search of the question bank asks for, and what a search word is.

Plain values shared by the routes, ``bank_service`` and ``bank_repository``; no SQL here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_WORD = re.compile(r"[^\W_]+")
"""A run of letters and digits: what SQLite FTS5's ``unicode61`` tokenizer calls a token
and what ``models.SEARCH_DOCUMENT`` leaves of a text on PostgreSQL."""

MAX_SEARCH_WORDS = 16
"""More words than this say nothing more and only make the query plan longer."""


def search_words(query: str) -> list[str]:
    """The distinct lower-cased words of ``query``, in order: a question matches when it
    contains every one of them (whole words, no stemming, any of question/answer/category)."""
    words: dict[str, None] = {}
    for match in _WORD.finditer(query.lower()):
        words.setdefault(match.group())
    return list(words)[:MAX_SEARCH_WORDS]


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionFilter:
    """The filters of ``GET /quiz/questions``; ``None`` means "not filtered on"."""

    words: tuple[str, ...] = ()
    category: str | None = None
    """The exact category title, as ``GET /quiz/categories`` lists it."""
    source: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    airdate_from: date | None = None
    """Inclusive, like ``airdate_to``."""
    airdate_to: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClueFilter:
    """jService's ``/api/clues`` filters, with its date quirk: with both dates the range is
    inclusive; with only one, the comparison is strict (``airdate > min_date``)."""

    value: int | None = None
    category_id: int | None = None
    min_date: date | None = None
    max_date: date | None = None
