"""The directory where uploads and their MP3s are staged during a conversion.

One per running service, under ``AUDIO_TMP_DIR`` (or the system's temp dir), named
``audio-staging-*``; it is removed when the service stops.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING_PREFIX = "audio-staging-"


@contextmanager
def staging_dir(parent: str | None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
