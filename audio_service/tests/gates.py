"""Holding real conversions at a gate, so a test decides when they may go on."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, BinaryIO

from audio_service import conversion
from audio_service.conversion import ConversionResult

real_convert = conversion.convert_wav_to_mp3


class GatedConversions:
    """Wraps the real conversion: each one waits at a gate the test opens, and the wrapper
    records how many run at once and in which threads."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self._changed = threading.Condition()

    def __call__(self, src: Path, dst: BinaryIO, **options: Any) -> ConversionResult:
        with self._changed:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.current_thread().name)
            self._changed.notify_all()
        try:
            assert self.gate.wait(30), "the test never opened the gate"
            return real_convert(src, dst, **options)
        finally:
            with self._changed:
                self.running -= 1

    async def until_running(self, count: int) -> None:
        def wait() -> bool:
            with self._changed:
                return self._changed.wait_for(lambda: self.running >= count, timeout=30)

        assert await asyncio.to_thread(wait), f"{count} conversions never ran at once"
