"""Alembic environment of the quiz service (async; see shared.migrations)."""

from quiz_service.models import Base
from quiz_service.settings import QuizSettings
from shared.migrations import run_env

run_env(
    metadata=Base.metadata,
    version_table="quiz_alembic_version",
    default_url=lambda: QuizSettings().database_url,
)
