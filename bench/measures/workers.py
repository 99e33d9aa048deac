"""audio.workers: conversion jobs on worker processes, one worker vs two, and how soon a
60-minute upload with ``Prefer: respond-async`` is answered.

Each repeat starts the workers (``python -m audio_service worker`` with
AUDIO_CONVERSION_WORKERS=1 each, so one worker is one conversion at a time), waits until they
have registered with the queue, pauses them (SIGSTOP), queues ten 60 s WAVs (``Prefer:
respond-async``, through the gateway), resumes them all at once (SIGCONT) and times until the
last job is `done`, read from the job table every 20 ms: worker start-up and the uploads are
left out, and no worker starts late. One worker and two alternate which goes first per
repeat. The 60-minute WAV (~635 MB) is uploaded with `Prefer: respond-async` (202 once the
WAV is staged in the database with its job and queue entry) and with a wrong token (401 once
the whole body has been received and parsed: the time to receive the bytes, through the same
gateway and parser), alternating; no worker runs meanwhile.
"""

from __future__ import annotations

import signal
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.model import Measure, Row, Section, Table, Target, method
from bench.stats import median, paired
from bench.wavgen import label

if TYPE_CHECKING:
    from bench.runner import Bench

FILES = 10
SCALING = Target("<=", 0.55, "x")
ACCEPT = Target("<=", 2.0, "x")
POLL_S = 0.02
DEADLINE_S = 900.0


@dataclass
class Drain:
    workers: int
    seconds: float  # first job converting -> last job done
    done: int


@dataclass
class Huge:
    accepted_s: float  # the 202
    received_s: float  # the 401 after the whole body


@dataclass
class Workers:
    seconds: float
    huge_seconds: float
    drains: list[Drain]
    huge: list[Huge]


def _statuses(bench: Bench, job_ids: list[str]) -> list[str]:
    with bench.system.audio_database() as db:
        rows = db.execute(
            "SELECT status FROM conversion_jobs WHERE id = ANY(%s::uuid[])", (job_ids,)
        ).fetchall()
    return [str(row[0]) for row in rows]


def _registered(bench: Bench) -> int:
    with bench.system.audio_database() as db:
        row = db.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    return int(row[0]) if row else 0


def _drain(bench: Bench, workers: int) -> Drain:
    """The workers start, register and are paused (SIGSTOP); the jobs are queued; then all
    resume at once (SIGCONT), so start-up is out of the time and none starts late."""
    user, wav = bench.user(), bench.wav(bench.scale.short_s)
    before = _registered(bench)
    started = [
        bench.system.start_worker(f"worker-{i}", AUDIO_CONVERSION_WORKERS="1")
        for i in range(workers)
    ]
    try:
        deadline = time.monotonic() + DEADLINE_S
        while _registered(bench) < before + workers:
            if time.monotonic() > deadline or not all(w.running() for w in started):
                raise RuntimeError("the workers did not start")
            time.sleep(POLL_S)
        for worker in started:
            worker.send_signal(signal.SIGSTOP)
        with bench.api() as api:
            job_ids = [
                str(api.upload(user, wav, respond_async=True).body["job_id"]) for _ in range(FILES)
            ]
        resumed = time.monotonic()
        for worker in started:
            worker.send_signal(signal.SIGCONT)
        with bench.system.audio_database() as db:
            while time.monotonic() < deadline:
                rows = db.execute(
                    "SELECT status FROM conversion_jobs WHERE id = ANY(%s::uuid[])", (job_ids,)
                ).fetchall()
                if all(str(row[0]) in ("done", "failed") for row in rows):
                    break
                time.sleep(POLL_S)
        end = time.monotonic()
    finally:
        for worker in started:
            worker.send_signal(signal.SIGCONT)
            worker.stop(timeout_s=30)
    statuses = _statuses(bench, job_ids)
    return Drain(workers, end - resumed, statuses.count("done"))


def _huge(bench: Bench, index: int) -> Huge:
    user, wav = bench.user(), bench.wav(bench.scale.huge_s)

    def accepted() -> float:
        with bench.api() as api:
            return api.upload(user, wav, respond_async=True).seconds

    def received() -> float:
        with bench.api() as api:
            upload = api.upload(user, wav, False, token=str(uuid.uuid4()))
        if upload.status != 401:
            raise RuntimeError(f"the wrong-token upload answered {upload.status}")
        return upload.seconds

    if index % 2 == 0:
        first = accepted()
        return Huge(first, received())
    first = received()
    return Huge(accepted(), first)


def run(bench: Bench) -> Workers:
    drains = []
    for index in range(bench.scale.repeats):
        for workers in (1, 2) if index % 2 == 0 else (2, 1):
            drain = _drain(bench, workers)
            drains.append(drain)
            bench.log(f"  {workers} worker(s): {FILES} jobs in {drain.seconds:.2f} s")
    huge = []
    for index in range(bench.scale.long_repeats):
        result = _huge(bench, index)
        huge.append(result)
        bench.log(
            f"  60-min upload: 202 in {result.accepted_s:.2f} s, bytes in {result.received_s:.2f} s"
        )
    bench.drop_wav(bench.scale.huge_s)
    return Workers(bench.scale.short_s, bench.scale.huge_s, drains, huge)


def summarise(data: Workers) -> Section:
    one = [d.seconds for d in data.drains if d.workers == 1]
    two = [d.seconds for d in data.drains if d.workers == 2]
    ratio = paired(two, one)
    rows = [
        Row(
            "scaling",
            f"{FILES} queued {label(data.seconds)} jobs: two workers' time ÷ one's (2 cores)",
            ratio,
            f"{ratio:.2f}x ({median(two):.2f} s vs {median(one):.2f} s)",
            SCALING,
        )
    ]
    accept = paired([h.accepted_s for h in data.huge], [h.received_s for h in data.huge])
    rows.append(
        Row(
            "accept_202",
            f"{label(data.huge_seconds)} upload with Prefer: respond-async: the 202's time ÷ the "
            "time to receive the bytes",
            accept,
            f"{accept:.2f}x ({median([h.accepted_s for h in data.huge]):.2f} s vs "
            f"{median([h.received_s for h in data.huge]):.2f} s)",
            ACCEPT,
        )
    )
    table = [
        [
            str(d.workers),
            f"{d.seconds:.2f}",
            f"{d.done}/{FILES}",
            f"{data.seconds * d.done / d.seconds:.1f}",
        ]
        for d in data.drains
    ]
    header = ["workers", "drain s", "done", "audio-s per s"]
    return Section(rows, method(__doc__), [Table(header, table)])


MEASURE = Measure(
    "audio.workers",
    "conversion jobs: one worker vs two, and the 202 of a 60-minute upload",
    Workers,
    run,
    summarise,
)
