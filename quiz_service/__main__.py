"""`python -m quiz_service [serve|migrate]`: apply migrations, then serve."""

from pathlib import Path

from quiz_service.settings import QuizSettings
from shared.server import main

if __name__ == "__main__":
    main(
        service="quiz_service",
        settings=QuizSettings(),
        app_factory="quiz_service.main:create_app",
        alembic_ini=Path(__file__).with_name("alembic.ini"),
    )
