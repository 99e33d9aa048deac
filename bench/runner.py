"""Runs the selected measures against one running system and collects their outcomes.

A measure that fails is recorded with its error and the others still run. A background
measure (light load, mostly waiting) runs in a thread beside the measures after it. Profiles
(py-spy) are taken only for measures that missed a target, after every measurement.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.client import AudioApi, User
from bench.model import Measure, Outcome, Scale, Skipped
from bench.profiling import record
from bench.sampling import CpuMeter
from bench.stack import System
from bench.wavgen import ensure_wav, wav_path

Log = Callable[[str], None]


class Bench:
    """What a measure gets: the running system, the scale, the tools, scratch space."""

    def __init__(
        self,
        system: System,
        scale: Scale,
        tools: dict[str, Path],
        scratch: Path,
        log: Log,
        keep_wavs: bool = False,
    ) -> None:
        self.system = system
        self.scale = scale
        self.tools = tools
        self.scratch = scratch
        self.log = log
        self.keep_wavs = keep_wavs
        self._user: User | None = None
        self._lock = threading.Lock()

    def wav(self, seconds: float) -> Path:
        return ensure_wav(self.scratch / "wavs", seconds)

    def drop_wav(self, seconds: float) -> None:
        """Deletes a big WAV after use (the 60-minute one is ~635 MB) unless --keep-wavs."""
        if not self.keep_wavs:
            wav_path(self.scratch / "wavs", seconds).unlink(missing_ok=True)

    def api(self) -> AudioApi:
        return AudioApi(self.system.gateway_url)

    def user(self) -> User:
        """A user of the audio service, made once; its first upload warms the service up
        (lazy imports, pools), so no measure pays for that."""
        with self._lock:
            if self._user is None:
                with self.api() as api:
                    self._user = api.create_user()
                    api.upload(self._user, self.wav(2.0))
            return self._user


def _run(bench: Bench, measure: Measure[Any]) -> Outcome:
    bench.log(f"bench: {measure.name} ({measure.title})")
    meter = CpuMeter(bench.system.cpu_groups(), children="tools")
    meter.start()
    started = time.perf_counter()
    outcome = Outcome(measure.name, None)
    try:
        outcome.data = measure.run(bench)
    except Skipped as exc:
        outcome.error = f"skipped: {exc}"
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    outcome.seconds = round(time.perf_counter() - started, 1)
    # Beside other measures, "other" would count theirs: only a measure alone gets a figure.
    outcome.other_cores = None if measure.background else meter.stop()["other"]
    bench.log(f"bench: {measure.name} took {outcome.seconds:.0f} s {outcome.error or ''}")
    return outcome


def _profile(bench: Bench, measure: Measure[Any], outcome: Outcome) -> None:
    profile, py_spy = measure.profile, bench.tools.get("py-spy")
    if profile is None or py_spy is None or outcome.data is None:
        return
    if not any(row.met is False for row in measure.summarise(outcome.data).rows):
        return
    bench.log(f"bench: profiling {profile.service} for {measure.name} (a target was missed)")
    try:
        outcome.profile = record(
            py_spy,
            bench.system.pid(profile.service),
            bench.scratch / "profiles" / f"{measure.name}.txt",
            lambda: profile.workload(bench, outcome.data),
        )
    except Exception as exc:
        outcome.profile = [f"the profile failed: {type(exc).__name__}: {exc}"]


def run_all(bench: Bench, measures: list[Measure[Any]], profile: bool) -> list[Outcome]:
    outcomes: dict[str, Outcome] = {}
    threads = []
    for measure in measures:
        if measure.background:
            thread = threading.Thread(
                target=lambda m=measure: outcomes.__setitem__(m.name, _run(bench, m)),
                name=measure.name,
            )
            thread.start()
            threads.append(thread)
        else:
            outcomes[measure.name] = _run(bench, measure)
    for thread in threads:
        thread.join()
    if profile:
        for measure in measures:
            _profile(bench, measure, outcomes[measure.name])
    return [outcomes[measure.name] for measure in measures]
