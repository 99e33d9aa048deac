"""The directory where uploads and their MP3s are staged during a conversion.

One per running service, ``audio-staging-<random>`` under ``AUDIO_TMP_DIR`` (or the system's
temp dir), removed when the service stops. A service killed outright (SIGKILL, OOM, power)
cannot remove it, so every start sweeps the stale ones first:

- ownership is a lock: the owner holds an exclusive ``fcntl.flock`` on the directory's
  ``.owner.lock`` (it also records the owner's pid, for people) for as long as it runs, and
  the kernel drops that lock when the process dies, however it dies;
- a directory is swept only if it is ours (named ``audio-staging-*`` and holding our lock
  file) and its lock can be taken, i.e. no live process owns it. Anything else under the
  temp dir (other programs' files, a directory without our lock file) is left alone;
- a new directory is created under a name the sweep never looks at, locked, and only then
  renamed to ``audio-staging-*``, so a sweep can never catch one between its creation and
  its lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING_PREFIX = "audio-staging-"
LOCK_NAME = ".owner.lock"
_NEW_PREFIX = ".audio-staging-new-"
# A directory still under its creation name this long is a crash's leftover, not a start.
_NEW_STALE_AFTER_S = 60.0

log = logging.getLogger("audio.staging")


@contextmanager
def staging_dir(parent: str | None) -> Iterator[Path]:
    """Sweeps stale staging directories under ``parent``, then makes and owns a new one."""
    root = Path(parent or tempfile.gettempdir())
    sweep_stale(root)
    path, lock = _create(root)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


def _create(root: Path) -> tuple[Path, int]:
    new = Path(tempfile.mkdtemp(prefix=_NEW_PREFIX, dir=root))
    lock = os.open(new / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(lock, f"{os.getpid()}\n".encode())
    path = root / (STAGING_PREFIX + new.name.removeprefix(_NEW_PREFIX))
    new.rename(path)
    return path, lock


def _candidates(root: Path) -> Iterator[Path]:
    now = time.time()
    for entry in root.iterdir():
        if entry.is_symlink() or not entry.is_dir():
            continue
        if entry.name.startswith(STAGING_PREFIX):
            yield entry
        elif entry.name.startswith(_NEW_PREFIX):
            with contextlib.suppress(FileNotFoundError):
                if now - entry.stat().st_mtime > _NEW_STALE_AFTER_S:
                    yield entry


def sweep_stale(root: Path) -> list[Path]:
    """Removes the staging directories under ``root`` that no live process owns."""
    swept: list[Path] = []
    for directory in _candidates(root):
        try:
            lock = os.open(directory / LOCK_NAME, os.O_RDWR)
        except FileNotFoundError:
            continue  # not ours (or gone meanwhile)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner is alive
            owner = os.read(lock, 32).decode(errors="replace").strip()
            files = [path for path in directory.rglob("*") if path.is_file()]
            size = sum(path.stat().st_size for path in files)
            shutil.rmtree(directory, ignore_errors=True)
        finally:
            os.close(lock)
        swept.append(directory)
        log.warning(
            "removed the staging directory of a service that died",
            extra={
                "fields": {
                    "path": str(directory),
                    "owner_pid": owner,
                    "files": len(files) - 1,  # the lock file itself is not staged data
                    "bytes": size,
                }
            },
        )
    return swept
