"""Staging directories of a killed service are swept on the next start, and only those.

The owners here are real processes running ``staging_dir``; the dead one dies of a real
SIGKILL, so nothing of ours runs after the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from audio_service.staging import LOCK_NAME, STAGING_PREFIX, staging_dir, sweep_stale

# Stages a file, says where, then holds its directory until its stdin closes.
_OWNER = """
import sys
from audio_service.staging import staging_dir
with staging_dir(sys.argv[1]) as path:
    (path / "upload.wav").write_bytes(bytes(100_000))
    print(path, flush=True)
    sys.stdin.read()
"""


@contextmanager
def owner(root: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    with subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, f"the owner exited with {process.wait()}"
            yield process, Path(line.strip())
        finally:
            if process.poll() is None:
                process.kill()


def test_a_killed_owners_directory_is_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    foreign = [tmp_path / f"{STAGING_PREFIX}not-ours", tmp_path / "other-program"]
    for directory in foreign:
        directory.mkdir()
        (directory / "data").write_bytes(b"keep me")
    with owner(tmp_path) as (dead, dead_dir), owner(tmp_path) as (_alive, alive_dir):
        os.kill(dead.pid, signal.SIGKILL)
        assert dead.wait() == -signal.SIGKILL
        assert (dead_dir / "upload.wav").exists(), "SIGKILL left the staged file behind"

        with staging_dir(str(tmp_path)) as mine:
            assert not dead_dir.exists()
            assert (alive_dir / "upload.wav").exists(), "a live owner's directory is kept"
            assert sorted(tmp_path.iterdir()) == sorted([mine, alive_dir, *foreign])
            assert (mine / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    for directory in foreign:
        assert (directory / "data").read_bytes() == b"keep me"


def test_a_directory_is_swept_once_its_owner_has_stopped(tmp_path: Path) -> None:
    with owner(tmp_path) as (process, directory):
        assert sweep_stale(tmp_path) == []
        assert process.stdin is not None
        process.stdin.close()  # a clean stop removes its own directory
        assert process.wait() == 0
    assert not directory.exists()
    assert sweep_stale(tmp_path) == []
