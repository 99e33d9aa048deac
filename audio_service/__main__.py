"""`python -m audio_service [serve|migrate]`: apply migrations, then serve."""

from pathlib import Path

from audio_service.settings import AudioSettings
from shared.server import main

if __name__ == "__main__":
    main(
        service="audio_service",
        settings=AudioSettings(),
        app_factory="audio_service.main:create_app",
        alembic_ini=Path(__file__).with_name("alembic.ini"),
    )
