"""The quiz service's admin (``/admin/quiz/``): the stored questions, read only.

Search looks in the question, the answer and the category; the filter builder narrows by
category, value, air date and when the question was saved; a question's page shows the raw
item the upstream sent. ``shared.admin.site`` puts it behind the login.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette_admin import DateField, DateTimeField, JSONField, StringField
from starlette_admin.views import BaseView

from quiz_service.models import Question
from shared.admin.site import DATE_FORMAT, DATETIME_FORMAT, ReadOnlyView
from shared.resources import ServiceResources


class QuestionView(ReadOnlyView):
    fields = (  # type: ignore[assignment]  # ModelView also takes column names
        "id",
        "question",
        "answer",
        # A string field (not a text area): the filter builder then offers "equal" too.
        StringField("category"),
        "value",
        DateField("airdate", output_format=DATE_FORMAT),
        DateTimeField("saved_at", output_format=DATETIME_FORMAT),
        DateTimeField("created_at", output_format=DATETIME_FORMAT),
        "source",
        "upstream_id",
        "raw_question",
        "raw_answer",
        JSONField("raw", label="Raw upstream item"),
        "request_id",
    )
    exclude_fields_from_list = (
        "created_at",
        "source",
        "upstream_id",
        "raw_question",
        "raw_answer",
        "raw",
        "request_id",
    )
    # Searchable fields are the filter builder's too; the search box looks in the text ones.
    searchable_fields = ("question", "answer", "category", "value", "airdate", "saved_at")
    sortable_fields = ("id", "category", "value", "airdate", "saved_at")
    fields_default_sort = (("id", True),)


def admin_views(resources: Callable[[], ServiceResources]) -> list[BaseView]:
    return [QuestionView(Question, icon="fa fa-circle-question", menu_label="Questions")]
