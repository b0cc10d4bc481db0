"""The report: a table for the terminal, JSON for machines, markdown for BENCHMARKS.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.goals import Goal, evaluate


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


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
                    f"{_num(rate)} ev/s",
                    goal_text(f"ingest {name} (both stores)"),
                )
            )
        for name, value in ingest["ratios"].items():
            rows.append((f"  ratio {name}", _x(value), "same events, same run"))
    fresh = report.get("freshness")
    if fresh:
        lat = fresh["latency_ms"]
        rows.append(
            (
                f"freshness at {_num(fresh['achieved_rate'])} ev/s (n={fresh['observed']:,})",
                f"p50 {_ms(lat['p50_ms'])} / p95 {_ms(lat['p95_ms'])} / p99 {_ms(lat['p99_ms'])} "
                f"/ max {_ms(lat['max_ms'])} ms",
                goal_text("freshness p99"),
            )
        )
    scoring = report.get("scoring")
    if scoring:
        for server, m in scoring["medians"].items():
            rows.append(
                (
                    f"{server} at {_num(scoring['config']['rate'])} req/s",
                    f"p50 {_ms(m['fixed_p50_ms'])} / p95 {_ms(m['fixed_p95_ms'])} / "
                    f"p99 {_ms(m['fixed_p99_ms'])} ms, errors {_num(m['errors'])}",
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
                    f"{_num(m['closed_rps'])} req/s, p50 {_ms(m['closed_p50_ms'])} / "
                    f"p99 {_ms(m['closed_p99_ms'])} ms",
                    goal_text("scoring closed loop") if server == "scoring-api" else "baseline",
                )
            )
        for name, value in scoring["ratios"].items():
            rows.append((f"  ratio {name}", _x(value), "same entities, same run"))
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
    )
    lines.extend(f"error: {e}" for e in report["errors"])
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


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
        "Servers: " + "; ".join(f"{k} `{v}`" for k, v in m["servers"].items()) + ". "
        "Tools: " + "; ".join(f"{k} `{v}`" for k, v in m["tools"].items()) + ".",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
    ]
    lines += _md_table(
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
    lines += _ingest_md(report.get("ingest"))
    lines += _freshness_md(report.get("freshness"))
    lines += _scoring_md(report.get("scoring"))
    lines += ["### Memory (peak RSS, process tree summed, sampled every 0.5 s)", ""]
    lines += _md_table(
        ["service", "peak MB", "in phase", "peak per phase (MB)"],
        [
            [
                name,
                _num(p["mb"]),
                p["phase"],
                ", ".join(f"{ph} {v:,.0f}" for ph, v in p["by_phase"].items()),
            ]
            for name, p in report["memory"].items()
        ],
    )
    lines.append("")
    for name, profile in report.get("profiles", {}).items():
        lines += _profile_md(name, profile)
    return "\n".join(lines) + "\n"


def _ingest_md(ingest: dict[str, Any] | None) -> list[str]:
    if not ingest:
        return []
    lines = ["### Ingestion runs", ""]
    lines += [
        f"- `{name}`: {c['description']} -> {c['stores']}."
        for name, c in ingest["consumers"].items()
    ]
    lines.append("")
    rows = []
    for run in ingest["runs"]:
        offline = ", ".join(
            f"{v} {got:,}/{exp:,}" for v, (got, exp) in (run["offline_rows"] or {}).items()
        )
        # CPU per event: what each service spends on one event, whatever the machine's noise.
        cores = ", ".join(
            f"{k} {v:.2f}"
            + ("" if k == "others" else f" ({_num(1e6 * v / run['events_per_s'])} us/ev)")
            for k, v in run["cores"].items()
        )
        st = run["stages"]
        stage = ""
        if st.get("mean_batch_events"):
            stage = (
                f"batch {st['mean_batch_events']:.0f} ev; offline "
                f"{_ms(st.get('offline_write_ms'))} ms "
                f"({100 * st.get('offline_busy_share', 0):.0f}% busy), online "
                f"{_ms(st.get('online_write_ms'))} ms "
                f"({100 * st.get('online_busy_share', 0):.0f}% busy)"
            )
        rows.append(
            [
                str(run["round"]),
                run["consumer"],
                f"{run['done']:,}/{run['events']:,}",
                f"{run['seconds']:.1f}",
                _num(run["events_per_s"]),
                _num(run["produce_events_per_s"]),
                offline or "-",
                f"{run['online_matched']}/{run['online_checked']}",
                str(run["rebalances"]),
                cores,
                stage or "-",
                "yes" if run["verified"] else "NO: " + "; ".join(run["errors"]),
            ]
        )
    lines += _md_table(
        [
            "round",
            "consumer",
            "events",
            "s",
            "events/s",
            "producer ev/s",
            "offline rows",
            "online sample",
            "rebalances",
            "cores busy",
            "processor batches",
            "verified",
        ],
        rows,
    )
    lines.append("")
    lines += _stages_md(ingest)
    return [*lines, ""]


def _stages_md(ingest: dict[str, Any]) -> list[str]:
    """Stage costs in isolation beside what each consumer's process spent per event."""
    if not ingest.get("stage_us"):
        return []
    lines = [
        "CPU per event of each consumer process in the runs (median over rounds):",
        "",
    ]
    for name in ingest["median_events_per_s"]:
        per_event = [
            1e6 * run["cores"][name] / run["events_per_s"]
            for run in ingest["runs"]
            if run["consumer"] == name and name in run["cores"] and run["events_per_s"]
        ]
        if per_event:
            per_event.sort()
            lines.append(f"- `{name}`: {per_event[len(per_event) // 2]:,.0f} us")
    lines += ["", "The processor's stages one by one, in one process, no Kafka, no contention:", ""]
    lines += _md_table(
        ["stage", "us per event"], [[k, f"{v:,.1f}"] for k, v in ingest["stage_us"].items()]
    )
    return [*lines, ""]


def _freshness_md(fresh: dict[str, Any] | None) -> list[str]:
    if not fresh:
        return []
    c = fresh["config"]
    st = fresh.get("stages", {})
    return [
        "### Freshness run",
        "",
        f"{fresh['events']:,} events at {_num(fresh['achieved_rate'])}/s (asked {c['rate']:,.0f}/s "
        f"for {c['seconds']:.0f} s); the processor wrote {fresh['processed']:,}. "
        f"{fresh['sampled_entities']} entities sampled (each updated about every "
        f"{1 / c['updates_per_entity_s']:.0f} s): {fresh['sampled_events']:,} of their events "
        f"produced, {fresh['observed']:,} observed, {fresh['superseded']:,} superseded before a "
        f"poll saw them, {fresh['missing']:,} missing. The sampler polled every "
        f"{c['poll_interval_ms']:g} ms ({fresh['polls']:,} polls, one Feast call took p50 "
        f"{_ms(fresh['poll_ms']['p50_ms'])} / p99 {_ms(fresh['poll_ms']['p99_ms'])} ms), so a "
        "value is seen at most about one interval late.",
        "",
        f"Processor during the run: mean batch {_num(st.get('mean_batch_events'), 1)} events, "
        f"online write {_ms(st.get('online_write_ms'))} ms, offline write "
        f"{_ms(st.get('offline_write_ms'))} ms per batch; cores busy: "
        + ", ".join(f"{k} {v:.2f}" for k, v in fresh.get("cores", {}).items())
        + ".",
        "",
        "Processor's own histogram (event time -> online write done): "
        + ", ".join(
            f"{100 * v:.0f}% within {k.removeprefix('written_within_')}"
            for k, v in sorted(
                ((k, v) for k, v in st.items() if k.startswith("written_within_")),
                key=lambda kv: float(kv[0].removeprefix("written_within_").removesuffix("ms")),
            )
        )
        + ".",
        "",
        "By 10 s window (p50 / p99 ms): "
        + ", ".join(
            f"{w['from_s']:.0f} s: {_ms(w['p50_ms'])} / {_ms(w['p99_ms'])}"
            for w in fresh.get("by_window", [])
        )
        + ".",
        "",
        "Slowest samples (seconds after the first produce: ms): "
        + ", ".join(f"{at:.1f} s: {ms:.0f}" for at, ms in fresh.get("slowest", []))
        + ".",
        "",
    ]


def _scoring_md(scoring: dict[str, Any] | None) -> list[str]:
    if not scoring:
        return []
    lines = ["### Scoring runs", ""]
    lines += [f"- `{k}`: {v}." for k, v in scoring["servers"].items()]
    lines += [
        f"- Placement: {scoring['placement']}.",
        f"- Fixed rate: `bench.loadgen` open loop (aiohttp, own process); closed loop: "
        f"{scoring['closed_loop_generator']}.",
        "",
    ]
    rows = [
        [
            str(r["round"]),
            r["server"],
            r["mode"],
            r["generator"],
            f"{r['requests']:,}",
            _num(r["requests_per_s"]),
            _ms(r["latency_ms"]["p50_ms"]),
            _ms(r["latency_ms"]["p95_ms"]),
            _ms(r["latency_ms"]["p99_ms"]),
            _ms(r["latency_ms"]["max_ms"]),
            str(r["errors"]),
            _ms(r["generator_lag_p99_ms"]) if r["generator_lag_p99_ms"] is not None else "-",
            ", ".join(f"{k} {v:.2f}" for k, v in r["cores"].items()),
        ]
        for r in scoring["runs"]
    ]
    lines += _md_table(
        [
            "round",
            "server",
            "load",
            "generator",
            "requests",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "errors",
            "generator lag p99 ms",
            "cores busy",
        ],
        rows,
    )
    return [*lines, ""]


def _profile_md(name: str, profile: dict[str, Any]) -> list[str]:
    lines = [f"### Profile: {name}", ""]
    if profile.get("error"):
        return [*lines, f"Not profiled: {profile['error']}", ""]
    lines.append(
        f"py-spy, {profile['samples']:,} samples over {profile['seconds']:.1f} s "
        f"({profile['threads_busy']:.2f} threads busy on average; a thread blocked in a C call "
        "such as a COPY counts as busy). Share of samples:"
    )
    lines.append("")
    width = max(len(profile["by_package"]), len(profile["top_inclusive"]), len(profile["top_self"]))

    def cell(items: list[list[Any]], i: int) -> str:
        return f"{items[i][0]} {items[i][1]:.1f}%" if i < len(items) else ""

    lines += _md_table(
        ["self time by package", "inclusive, project functions", "self, by function"],
        [
            [
                cell(profile["by_package"], i),
                cell(profile["top_inclusive"], i),
                cell(profile["top_self"], i),
            ]
            for i in range(width)
        ],
    )
    return [*lines, ""]


def write_report(report: dict[str, Any], out_dir: Path, stem: str) -> tuple[Path, Path]:
    """`<stem>.json` and `<stem>.md` in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(report))
    return json_path, md_path
