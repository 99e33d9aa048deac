"""Request and response bodies of the quiz endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

MAX_ID = 2**63 - 1
"""Ids are BIGINT; anything larger cannot exist and must not reach the database driver."""


class QuizRequest(BaseModel):
    """Unknown keys are rejected (422), so a typo such as ``question_num`` cannot silently
    mean "0 questions"."""

    model_config = ConfigDict(extra="forbid")

    questions_num: StrictInt = Field(
        ge=0,
        description=(
            "How many new questions to store (0 stores nothing). A JSON integer: floats, "
            "strings, booleans and null are rejected. The maximum is QUIZ_MAX_QUESTIONS_NUM."
        ),
        examples=[5],
    )
    category: StrictInt | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description=(
            "Only questions of this upstream category id: Open Trivia DB's 9..32, or a "
            "jservice-compatible upstream's category id (read through its /api/clues)."
        ),
    )
    difficulty: Literal["easy", "medium", "hard"] | None = Field(
        default=None, description="Open Trivia DB only: only questions of this difficulty."
    )
    value: StrictInt | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="jservice-compatible upstreams only: only clues of this dollar value.",
    )


class QuestionOut(BaseModel):
    """A stored question. ``question``/``answer`` are cleaned for display (HTML tags
    stripped, ``\\'`` unescaped, entities decoded, whitespace collapsed); ``raw_question``/
    ``raw_answer`` are the text exactly as the upstream sent it."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Our id; larger means stored later")
    source: str = Field(description="The provider it came from: jservice or opentdb")
    upstream_id: str = Field(
        description="The provider's id (jservice: its numeric id; opentdb: SHA-256 of the text)"
    )
    question: str
    answer: str
    raw_question: str
    raw_answer: str
    category: str | None = Field(description="The category title")
    value: int | None = Field(description="Dollar value on the board; null when unknown")
    airdate: date | None = Field(description="When the show aired (jservice only)")
    created_at: datetime = Field(
        description="jservice: when the upstream created the clue; opentdb: when first fetched"
    )
    saved_at: datetime = Field(description="When this service stored it")


class QuestionDetail(QuestionOut):
    raw: dict[str, Any] = Field(description="The upstream item exactly as received")


class NoQuestion(BaseModel):
    """The empty object ``{}``: nothing was stored before this request."""

    model_config = ConfigDict(extra="forbid", title="NoQuestion")


class QuestionPage(BaseModel):
    items: list[QuestionOut] = Field(description="Newest first")
    next_before_id: int | None = Field(
        description="Pass as before_id to get the next page; null on the last page"
    )


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The id /quiz/api/clues?category= and /quiz/api/category take")
    title: str = Field(description='The category title ("" for questions without one)')
    clues_count: int = Field(description="Stored questions in this category")


class CategoryPage(BaseModel):
    items: list[CategoryOut] = Field(description="Largest first")
    total: int = Field(description="Categories that hold at least one question")


class SourceTotal(BaseModel):
    source: str
    questions: int


class BankStats(BaseModel):
    questions: int = Field(description="Stored questions")
    by_source: list[SourceTotal]
    categories: int = Field(description="Categories that hold at least one question")
    top_categories: list[CategoryOut] = Field(description="The largest categories, largest first")
    newest: QuestionOut | None = Field(description="The question stored last")
    oldest: QuestionOut | None = Field(description="The question stored first")


# jService's shapes (the open-source sottenad/jService's api_controller and models): Rails
# serialises a clue with its category in full, a listed category without its timestamps,
# and a category's own clues without theirs.


class JServiceCategory(BaseModel):
    id: int
    title: str
    created_at: str = Field(description="Rails time: 2014-02-11T22:47:18.706Z")
    updated_at: str
    clues_count: int


class JServiceClue(BaseModel):
    id: int = Field(description="Our question id")
    answer: str = Field(description="As the upstream sent it (HTML and \\' included)")
    question: str = Field(description="As the upstream sent it; may be empty upstream")
    value: int | None = Field(description="Dollar value; null for final-round clues")
    airdate: str | None = Field(
        description="1985-02-08T12:00:00.000Z (the time part means nothing); null if unknown"
    )
    created_at: str
    updated_at: str
    category_id: int
    game_id: int | None
    invalid_count: int | None
    category: JServiceCategory


class JServiceCategoryListed(BaseModel):
    id: int
    title: str
    clues_count: int


class JServiceCategoryClue(BaseModel):
    id: int
    answer: str
    question: str
    value: int | None
    airdate: str | None
    category_id: int
    game_id: int | None
    invalid_count: int | None


class JServiceCategoryWithClues(JServiceCategoryListed):
    clues: list[JServiceCategoryClue]
