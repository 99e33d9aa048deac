"""Alembic environment of the audio service (async; see shared.migrations)."""

from audio_service.models import Base
from audio_service.settings import AudioSettings
from shared.migrations import run_env

run_env(
    metadata=Base.metadata,
    version_table="audio_alembic_version",
    default_url=lambda: AudioSettings().database_url,
)
