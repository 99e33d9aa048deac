"""`python -m audio_service [serve|migrate]`: apply migrations, then serve."""

from audio_service.settings import AudioSettings
from shared.server import main

if __name__ == "__main__":
    main("audio_service", AudioSettings())
