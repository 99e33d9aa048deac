"""The results file (JSON: every raw figure of a run) and what is made from it alone: the
Markdown summary and the chart. A live run writes the file first and then renders from it,
so ``python -m bench --from-results FILE`` gives the same report later."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pydantic import TypeAdapter

from bench.model import RunRecord, Section
from bench.registry import BY_NAME

STATUS = {True: "met", False: "**missed**", None: "-"}


def save(record: RunRecord, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(record), indent=1) + "\n", encoding="utf-8")


def load(path: Path) -> RunRecord:
    return TypeAdapter(RunRecord).validate_python(json.loads(path.read_text(encoding="utf-8")))


def sections(record: RunRecord) -> dict[str, Section]:
    """Each measured outcome's raw data, validated into its measure's dataclass, summarised."""
    result = {}
    for outcome in record.outcomes:
        if outcome.data is not None:
            measure = BY_NAME[outcome.name]
            data = TypeAdapter(measure.data).validate_python(outcome.data)
            result[outcome.name] = measure.summarise(data)
    return result


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def summary(record: RunRecord, by_name: dict[str, Section]) -> list[str]:
    """The table of every row with its target and status (the README shows this one)."""
    rows = []
    for outcome in record.outcomes:
        section = by_name.get(outcome.name)
        if section is None:
            error = outcome.error or "no data"
            status = "-" if error.startswith("skipped") else "**failed**"
            rows.append([outcome.name, BY_NAME[outcome.name].title, error, "", status])
        for row in section.rows if section else []:
            target = str(row.target) if row.target else "reported"
            rows.append([outcome.name, row.what, row.shown, target, STATUS[row.met]])
    return _table(["Measure", "What", "Result", "Target", "Status"], rows)


def markdown(record: RunRecord) -> str:
    by_name, env, scale = sections(record), record.environment, record.scale
    mode = "" if record.mode == "full" else f" — **{record.mode} run, not representative**"
    noise = ", ".join(
        f"{o.name} {o.other_cores:.2f}" for o in record.outcomes if o.other_cores is not None
    )
    lines = [
        "# Benchmark results",
        "",
        f"`{record.command}` — {record.started_at}, {record.duration_s:.0f} s, {env.get('cpus')}, "
        f"load average {env.get('load_average')} at start{mode}",
        "",
        *([record.note, ""] if record.note else []),
        f"Every figure is the median of {scale.repeats} repeat(s) (the memory uploads: "
        f"{scale.long_repeats}); every ratio is paired, measured side by side in the same run.",
        "",
        "## Summary",
        "",
        *summary(record, by_name),
        "Machine noise (cores used by processes outside the system under test while each "
        f"measure ran; 0 on a quiet machine): {noise or '-'}.",
        "",
    ]
    for outcome in record.outcomes:
        section = by_name.get(outcome.name)
        lines += [f"## {outcome.name}: {BY_NAME[outcome.name].title}", ""]
        if section is None:
            lines += [f"Not measured: {outcome.error}", ""]
            continue
        lines += [section.method, ""]
        for table in section.tables:
            lines += _table(table.header, table.rows)
        if outcome.profile:
            lines += ["py-spy profile (a target was missed):", ""]
            lines += [*(f"- {line}" for line in outcome.profile), ""]
    lines += ["## Environment", "", "; ".join(f"{k}: {v}" for k, v in env.items()), ""]
    return "\n".join(lines)


def chart(record: RunRecord, path: Path) -> None:
    """Every measure's panels side by side (matplotlib comes with ``make bench`` only)."""
    import matplotlib

    matplotlib.use("Agg")  # before pyplot is imported: no display needed
    import matplotlib.pyplot as plt

    panels = [panel for section in sections(record).values() for panel in section.panels]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.8), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        for line in panel.lines:
            ax.plot(line.x, line.y, line.style, label=line.label)
        ax.set(title=panel.title, xlabel=panel.xlabel, ylabel=panel.ylabel)
        ax.set_xticks(panel.lines[0].x)
        if panel.log_y:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.legend(fontsize="small")
    fig.suptitle(f"python -m bench ({record.mode} run), {record.started_at}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(record: RunRecord, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(markdown(record), encoding="utf-8")
    chart(record, out / "throughput.png")
    return out / "latest.md"
