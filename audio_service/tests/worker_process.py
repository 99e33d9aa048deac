"""``python -m audio_service.tests.worker_process``: the real worker, for the tests.

With ``TEST_WORKER_HOLD_DIR`` set, each conversion this worker starts first announces itself
there (a file named after the worker's pid, holding the WAV's path) and then never ends:
the test knows the worker is mid-conversion and kills it there.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from audio_service import uploads, worker


def _held(hold_dir: Path) -> Any:
    def convert(src: Path, dst: BinaryIO, **options: Any) -> NoReturn:
        (hold_dir / str(os.getpid())).write_text(str(src))
        threading.Event().wait()  # until the test kills the process
        raise AssertionError("unreachable")

    return convert


if __name__ == "__main__":
    hold = os.environ.get("TEST_WORKER_HOLD_DIR")
    if hold:
        # As the tests' monkeypatch does: the name uploads' conversion calls.
        setattr(uploads, "convert_wav_to_mp3", _held(Path(hold)))  # noqa: B010
    sys.exit(worker.main(sys.argv[1:]))
