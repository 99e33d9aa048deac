"""`python -m audio_service [serve|migrate]`: apply migrations, then serve;
`python -m audio_service storage {sweep,migrate,status}`: the storage commands;
`python -m audio_service worker`: a conversion worker (``audio_service.worker``)."""

import sys

from audio_service.settings import AudioSettings
from shared.server import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["storage"]:
        from audio_service.storage_cli import main as storage_main

        sys.exit(storage_main(sys.argv[2:]))
    if sys.argv[1:2] == ["worker"]:
        from audio_service.worker import main as worker_main

        sys.exit(worker_main(sys.argv[2:]))
    main("audio_service", AudioSettings())
