"""Markdown sections of the benchmark report: ingestion, stages, scoring, profiles (freshness:
bench.report_freshness)."""

from __future__ import annotations

from typing import Any

from bench.report_format import fmt_ms, fmt_num, md_table


def ingest_md(ingest: dict[str, Any] | None) -> list[str]:
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
            + ("" if k == "others" else f" ({fmt_num(1e6 * v / run['events_per_s'])} us/ev)")
            for k, v in run["cores"].items()
        )
        st = run["stages"]
        stage = ""
        if st.get("mean_batch_events"):
            stage = (
                f"batch {st['mean_batch_events']:.0f} ev; offline "
                f"{fmt_ms(st.get('offline_write_ms'))} ms "
                f"({100 * st.get('offline_busy_share', 0):.0f}% busy), online "
                f"{fmt_ms(st.get('online_write_ms'))} ms "
                f"({100 * st.get('online_busy_share', 0):.0f}% busy)"
            )
        rows.append(
            [
                str(run["round"]),
                run["consumer"],
                f"{run['done']:,}/{run['events']:,}",
                f"{run['seconds']:.1f}",
                fmt_num(run["events_per_s"]),
                fmt_num(run["produce_events_per_s"]),
                offline or "-",
                f"{run['online_matched']}/{run['online_checked']}",
                str(run["rebalances"]),
                cores,
                stage or "-",
                "yes" if run["verified"] else "NO: " + "; ".join(run["errors"]),
            ]
        )
    lines += md_table(
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
    lines += stages_md(ingest)
    return [*lines, ""]


def stages_md(ingest: dict[str, Any]) -> list[str]:
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
    lines += md_table(
        ["stage", "us per event"], [[k, f"{v:,.1f}"] for k, v in ingest["stage_us"].items()]
    )
    return [*lines, ""]


def scoring_md(scoring: dict[str, Any] | None) -> list[str]:
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
            fmt_num(r["requests_per_s"]),
            fmt_ms(r["latency_ms"]["p50_ms"]),
            fmt_ms(r["latency_ms"]["p95_ms"]),
            fmt_ms(r["latency_ms"]["p99_ms"]),
            fmt_ms(r["latency_ms"]["max_ms"]),
            str(r["errors"]),
            fmt_ms(r["generator_lag_p99_ms"]) if r["generator_lag_p99_ms"] is not None else "-",
            ", ".join(f"{k} {v:.2f}" for k, v in r["cores"].items()),
        ]
        for r in scoring["runs"]
    ]
    lines += md_table(
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


def profile_md(name: str, profile: dict[str, Any]) -> list[str]:
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

    lines += md_table(
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
