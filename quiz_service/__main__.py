"""`python -m quiz_service [serve|migrate]`: apply migrations, then serve."""

from quiz_service.settings import QuizSettings
from shared.server import main

if __name__ == "__main__":
    main("quiz_service", QuizSettings())
