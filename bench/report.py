"""The report: a table for the terminal, JSON for machines, markdown for BENCHMARKS.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.goals import Goal, evaluate
from bench.report_format import fmt_ms, fmt_num, fmt_ratio, md_table
from bench.report_freshness import freshness_md, freshness_rows
from bench.report_sections import ingest_md, profile_md, scoring_md

EXTERNAL_NOTE = (
    "the services (Kafka, Redis, Postgres) ran outside the benchmark: their versions, CPU and "
    "memory are unavailable"
)


def _external(report: dict[str, Any]) -> bool:
    return bool(report.get("stack") == "external")


def _met(goal: Goal) -> str:
    return {True: "met", False: "MISSED", None: "not measured"}[goal.met]


def figure_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, goal or baseline) rows of the summary table."""
    rows: list[tuple[str, str, str]] = []
    goals = {g.figure: g for g in evaluate(report)}

    def goal_text(*names: str) -> str:
        found = [g for n in names if (g := goals.get(n))]
        return "; ".join(f"goal {g.target}: {_met(g)}" for g in found)

    ingest = report.get("ingest")
    if ingest:
        for name, rate in ingest["median_events_per_s"].items():
            stores = ingest["consumers"][name]["stores"]
            rows.append(
                (
                    f"ingest {name} ({stores})",
                    f"{fmt_num(rate)} ev/s",
                    goal_text(f"ingest {name} (both stores)"),
                )
            )
        for name, value in ingest["ratios"].items():
            rows.append((f"  ratio {name}", fmt_ratio(value), "same events, same run"))
    fresh = report.get("freshness")
    if fresh:
        rows += freshness_rows(fresh, goal_text)
    scoring = report.get("scoring")
    if scoring:
        for server, m in scoring["medians"].items():
            rows.append(
                (
                    f"{server} at {fmt_num(scoring['config']['rate'])} req/s",
                    f"p50 {fmt_ms(m['fixed_p50_ms'])} / p95 {fmt_ms(m['fixed_p95_ms'])} / "
                    f"p99 {fmt_ms(m['fixed_p99_ms'])} ms, errors {fmt_num(m['errors'])}",
                    goal_text("scoring p50 at fixed rate", "scoring p99 at fixed rate")
                    if server == "scoring-api"
                    else "baseline",
                )
            )
            if m["closed_rps"] is None:
                continue  # the floor runs at the fixed rate only
            rows.append(
                (
                    f"{server} closed loop ({scoring['config']['connections']} conns)",
                    f"{fmt_num(m['closed_rps'])} req/s, p50 {fmt_ms(m['closed_p50_ms'])} / "
                    f"p99 {fmt_ms(m['closed_p99_ms'])} ms",
                    goal_text("scoring closed loop") if server == "scoring-api" else "baseline",
                )
            )
        for name, value in scoring["ratios"].items():
            rows.append((f"  ratio {name}", fmt_ratio(value), "same entities, same run"))
    return rows


def render_table(report: dict[str, Any]) -> str:
    """The summary as aligned text columns."""
    rows = [("figure", "value", "goal / baseline"), *figure_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    verdict = "all counts verified, no errors" if report["verified"] else "NOT VERIFIED"
    lines.append("")
    lines.append(
        f"{verdict}; memory peaks (MB): "
        + ", ".join(f"{name} {peak['mb']:,.0f}" for name, peak in report["memory"].items())
        + (f"; {EXTERNAL_NOTE}" if _external(report) else "")
    )
    lines.extend(f"error: {e}" for e in report["errors"])
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report: command, machine, figures with goals, runs, memory, profiles."""
    m = report["machine"]
    lines = [
        f"## Figures ({report['mode']} run, {report['started_at']})",
        "",
        f"Command: `{report['command']}` ({report['duration_s']:.0f} s in all).",
        "",
        f"Machine: {m['cpu']}, {m['logical_cores']} logical cores, {m['memory_gb']} GB, "
        f"{m['os']} (kernel {m['kernel']}), Python {m['python']}; load average "
        f"{m['load_average_1m']} at the start; code at {m['git']}.",
        "",
        (
            f"Stack: external; {EXTERNAL_NOTE}. "
            if _external(report)
            else "Servers: " + "; ".join(f"{k} `{v}`" for k, v in m["servers"].items()) + ". "
        )
        + "Tools: "
        + "; ".join(f"{k} `{v}`" for k, v in m["tools"].items())
        + ".",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
    ]
    lines += md_table(
        ["figure", "value", "goal / baseline"], [list(r) for r in figure_rows(report)]
    )
    lines += [
        "",
        "Verification: "
        + (
            "every count verified, no errors."
            if report["verified"]
            else "FAILED: " + "; ".join(report["errors"])
        ),
        "",
    ]
    lines += ingest_md(report.get("ingest"))
    lines += freshness_md(report.get("freshness"), external=_external(report))
    lines += scoring_md(report.get("scoring"))
    lines += ["### Memory (peak RSS, process tree summed, sampled every 0.5 s)", ""]
    lines += md_table(
        ["service", "peak MB", "in phase", "peak per phase (MB)"],
        [
            [
                name,
                fmt_num(p["mb"]),
                p["phase"],
                ", ".join(f"{ph} {v:,.0f}" for ph, v in p["by_phase"].items()),
            ]
            for name, p in report["memory"].items()
        ],
    )
    lines.append("")
    for name, profile in report.get("profiles", {}).items():
        lines += profile_md(name, profile)
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out_dir: Path, stem: str) -> tuple[Path, Path]:
    """`<stem>.json` and `<stem>.md` in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(report))
    return json_path, md_path
