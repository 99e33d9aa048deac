"""Stored questions rendered as jService rendered its clues.

For a question that came from a jservice-compatible upstream, every field jService had is
taken from the stored raw item (so its quirks survive: ``\\'``, HTML, null ``value`` or
``game_id``, the airdate's varying time part); only ``id`` and ``category_id`` are ours,
because ids of several upstreams share one table. Other sources fill the same keys from our
columns, with nulls where they know nothing (``game_id``, ``invalid_count``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from quiz_service.models import Category, Question
from quiz_service.schemas import (
    JServiceCategory,
    JServiceCategoryClue,
    JServiceCategoryListed,
    JServiceCategoryWithClues,
    JServiceClue,
)

JSERVICE_SOURCE = "jservice"


def rails_time(moment: datetime) -> str:
    """Rails' JSON time: UTC, milliseconds, a literal ``Z``."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _airdate(day: date | None) -> str | None:
    # jService stored airdates as midnight-less timestamps at 12:00 UTC (older shows).
    return None if day is None else f"{day.isoformat()}T12:00:00.000Z"


def _fields(question: Question) -> dict[str, Any]:
    """The clue's own fields, without id, category_id and the category."""
    created = rails_time(question.created_at)
    fields: dict[str, Any] = {
        "answer": question.raw_answer,
        "question": question.raw_question,
        "value": question.value,
        "airdate": _airdate(question.airdate),
        "created_at": created,
        "updated_at": created,
        "game_id": None,
        "invalid_count": None,
    }
    if question.source == JSERVICE_SOURCE:
        raw = question.raw
        fields.update({key: raw[key] for key in fields if key in raw})
    return fields


def category(row: Category) -> JServiceCategory:
    return JServiceCategory(
        id=row.id,
        title=row.title,
        created_at=rails_time(row.created_at),
        updated_at=rails_time(row.updated_at),
        clues_count=row.clues_count,
    )


def clue(question: Question, row: Category) -> JServiceClue:
    return JServiceClue(
        id=question.id, category_id=row.id, category=category(row), **_fields(question)
    )


def listed_category(row: Category) -> JServiceCategoryListed:
    return JServiceCategoryListed(id=row.id, title=row.title, clues_count=row.clues_count)


def category_with_clues(row: Category, questions: list[Question]) -> JServiceCategoryWithClues:
    clues = []
    for question in questions:
        fields = _fields(question)
        del fields["created_at"], fields["updated_at"]  # jService left them out here
        clues.append(JServiceCategoryClue(id=question.id, category_id=row.id, **fields))
    return JServiceCategoryWithClues(
        id=row.id, title=row.title, clues_count=row.clues_count, clues=clues
    )
