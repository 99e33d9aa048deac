"""Quiz service settings, read from ``QUIZ_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class QuizSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QUIZ_", extra="ignore", frozen=True)

    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///var/data/quiz.db"
