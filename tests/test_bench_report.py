"""The benchmark's report is made from its typed results alone.

``bench/tests/quick_results.json`` is a recorded ``python -m bench --quick`` (real figures
from a real run): every measure's raw data must still validate into its dataclass, summarise
and render, and the targets decide met and missed from the data, not from stored verdicts.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from bench import profiling, registry, report, tools
from bench.model import Outcome, Row, RunRecord, Target

RECORDED = Path(__file__).resolve().parents[1] / "bench" / "tests" / "quick_results.json"
RERECORD = (
    "a measure was added, renamed or changed its data: record again with "
    "`make bench BENCH_ARGS=--quick && cp var/bench/results.json bench/tests/quick_results.json`"
)


@pytest.fixture
def record() -> RunRecord:
    return report.load(RECORDED)


def _with(record: RunRecord, name: str, data: Any, error: str | None = None) -> RunRecord:
    """``record`` with the outcome of measure ``name`` replaced."""
    outcomes = [
        dataclasses.replace(o, data=data, error=error) if o.name == name else o
        for o in record.outcomes
    ]
    return dataclasses.replace(record, outcomes=outcomes)


def _status_of(markdown: str, name: str) -> list[str]:
    return [
        line.rsplit("|", 2)[1].strip()
        for line in markdown.splitlines()
        if line.startswith(f"| {name} |")
    ]


def test_the_recording_covers_every_registered_measure(record: RunRecord) -> None:
    assert [o.name for o in record.outcomes] == [m.name for m in registry.MEASURES], RERECORD
    assert [o.error for o in record.outcomes] == [None] * len(record.outcomes)


def test_each_measure_validates_and_summarises_its_recorded_data(record: RunRecord) -> None:
    for outcome in record.outcomes:
        measure = registry.BY_NAME[outcome.name]
        data = TypeAdapter(measure.data).validate_python(outcome.data)
        assert isinstance(data, measure.data), RERECORD
        section = measure.summarise(data)
        keys = [row.key for row in section.rows]
        assert keys, outcome.name
        assert len(keys) == len(set(keys)), outcome.name
        assert all(row.value is not None for row in section.rows), outcome.name
        assert section.method, outcome.name


def test_the_report_shows_every_row_with_its_target_and_status(record: RunRecord) -> None:
    markdown = report.markdown(record)
    for name, section in report.sections(record).items():
        assert f"## {name}: {registry.BY_NAME[name].title}" in markdown
        for row in section.rows:
            target = str(row.target) if row.target else "reported"
            status = report.STATUS[row.met]
            assert f"| {name} | {row.what} | {row.shown} | {target} | {status} |" in markdown


def test_a_slower_service_misses_the_conversion_target(record: RunRecord) -> None:
    conversion = next(o for o in record.outcomes if o.name == "audio.conversion")
    assert _status_of(report.markdown(record), "audio.conversion") == ["met", "met"]
    slower = copy.deepcopy(conversion.data)
    for file in slower["files"]:
        for pair in file["pairs"]:
            pair["e2e_s"] = pair["lame_s"] * 1.2
    markdown = report.markdown(_with(record, "audio.conversion", slower))
    assert _status_of(markdown, "audio.conversion") == ["**missed**", "**missed**"]
    assert "1.200x" in markdown


def test_a_measure_that_failed_says_so(record: RunRecord) -> None:
    failed = _with(record, "http.api", None, "RuntimeError: wrk failed (1)")
    markdown = report.markdown(failed)
    assert _status_of(markdown, "http.api") == ["**failed**"]
    assert "Not measured: RuntimeError: wrk failed (1)" in markdown
    skipped = report.markdown(_with(record, "http.api", None, "skipped: smoke"))
    assert _status_of(skipped, "http.api") == ["-"]


def test_the_results_file_round_trips(record: RunRecord, tmp_path: Path) -> None:
    report.save(record, tmp_path / "results.json")
    assert report.markdown(report.load(tmp_path / "results.json")) == report.markdown(record)


@pytest.mark.parametrize(
    ("target", "value", "met", "text"),
    [
        (Target("<=", 1.05, "x"), 1.05, True, "≤ 1.05x"),
        (Target("<=", 1.05, "x"), 1.051, False, "≤ 1.05x"),
        (Target(">=", 0.5, "x"), 0.49, False, "≥ 0.5x"),
        (Target("<", 50, " ms"), 50.0, False, "< 50 ms"),
        (Target("==", 1), 1.0, True, "= 1"),
    ],
)
def test_a_target_decides_met(target: Target, value: float, met: bool, text: str) -> None:
    assert Row("k", "what", value, "shown", target).met is met
    assert str(target) == text


def test_a_row_that_could_not_be_measured_misses_its_target() -> None:
    assert Row("k", "what", None, "HTTP [503]", Target("<=", 3)).met is False
    assert Row("k", "what", float("nan"), "-", Target("<=", 3)).met is False
    assert Row("k", "what", 2.0, "2", None).met is None


def test_only_selects_measures_by_name_or_prefix() -> None:
    assert [m.name for m in registry.select("audio")] == [
        "audio.conversion",
        "audio.mp3_modes",
        "audio.memory",
        "audio.parallel",
        "audio.workers",
    ]
    assert [m.name for m in registry.select("http.api,quiz")] == ["quiz.ingestion", "http.api"]
    with pytest.raises(ValueError, match=r"unknown measures: audio\.conv"):
        registry.select("audio.conv")


def test_a_profile_counts_busy_samples_only() -> None:
    raw = "\n".join(
        [
            "process 1;thread (1): MainThread;run (uvicorn/server.py:1);"
            "convert (/x/audio_service/conversion.py:9) 30",
            "process 1;thread (2): worker;_bootstrap (threading.py:1);"
            "Condition.wait (/usr/lib/python3.11/threading.py:320) 70",
        ]
    )
    lines = profiling.summarise(raw, seconds=1.0)
    assert lines[0].startswith("30 busy of 100 samples over 1.0 s")
    assert "MainThread 0.30" in lines[0]
    assert lines[1] == "busy, innermost frame: convert (audio_service/conversion.py:9) 100%"
    assert lines[2] == "busy, project code on the stack: convert (audio_service/conversion.py) 100%"


def test_the_chart_has_a_panel_per_measure_that_draws_one(
    record: RunRecord, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib comes with `make bench`")
    report.chart(record, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_recorded_outcome_keeps_its_error_and_noise(record: RunRecord) -> None:
    outcome = Outcome("http.api", None, "boom", 1.5, 0.25)
    saved = TypeAdapter(Outcome).validate_python(dataclasses.asdict(outcome))
    assert saved == outcome
    assert all(o.other_cores is not None for o in record.outcomes if not _background(o.name))


def _background(name: str) -> bool:
    return registry.BY_NAME[name].background


def test_a_missing_tool_stops_the_run_with_the_command_that_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(tools.ToolError) as error:
        tools.require({"wrk", "lame"})
    assert str(error.value) == (
        "missing: lame, wrk. Install with `make bench-tools` (apt-get install -y lame wrk)"
    )
