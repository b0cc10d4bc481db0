"""The freshness part in the report: each run beside its broker floor, then each run's details."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.report_format import fmt_ms, fmt_num, md_table

Row = tuple[str, str, str]


def _percentiles(lat: dict[str, float | None], keys: tuple[str, ...]) -> str:
    return " / ".join(f"{k.removesuffix('_ms')} {fmt_ms(lat[k])}" for k in keys) + " ms"


def _gap(run: dict[str, Any]) -> str:
    gap = run.get("floor_gap_p99_ms")
    return "n/a" if gap is None else f"{gap:+.1f} ms"


def _waits(floor: dict[str, Any]) -> str:
    waits = [ms for _, ms in floor.get("fetch_wait_ms", [])]
    if not waits:
        return "fetch wait n/a"
    return f"fetch wait {waits[0]} ms" + (f" -> {waits[-1]} ms" if len(waits) > 1 else "")


def freshness_rows(fresh: dict[str, Any], goal_text: Callable[[str], str]) -> list[Row]:
    """Summary rows: per run the processor's freshness, then its broker floor and the gap."""
    rows: list[Row] = []
    for run in fresh["runs"]:
        floor = run["broker_floor"]
        rows.append(
            (
                f"freshness at {fmt_num(run['achieved_rate'])} ev/s, {run['label']} rate "
                f"(n={run['observed']:,})",
                _percentiles(run["latency_ms"], ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
                goal_text(f"freshness p99 ({run['label']} rate)"),
            )
        )
        rows.append(
            (
                f"  broker floor, same run (n={floor['received']:,}, {_waits(floor)})",
                _percentiles(floor["latency_ms"], ("p50_ms", "p99_ms", "max_ms")),
                f"processor p99 - floor p99: {_gap(run)}",
            )
        )
    return rows


def freshness_md(fresh: dict[str, Any] | None, *, external: bool = False) -> list[str]:
    if not fresh:
        return []
    lines = ["### Freshness runs", ""]
    one = fresh.get("one_worker")
    if one:
        lines += [
            f"One worker's ingestion rate: {fmt_num(one['events_per_s'])} events/s, from "
            f"{one['source']}.",
            "",
        ]
    rows = []
    for run in fresh["runs"]:
        lat, floor = run["latency_ms"], run["broker_floor"]
        flat = floor["latency_ms"]
        rows.append(
            [
                f"{run['label']}: {run['rate_basis']}",
                fmt_num(run["config"]["rate"]),
                fmt_num(run["achieved_rate"]),
                *(fmt_ms(lat[k]) for k in ("p50_ms", "p99_ms", "max_ms")),
                *(fmt_ms(flat[k]) for k in ("p50_ms", "p99_ms", "max_ms")),
                f"{floor['received']:,}/{floor['produced']:,}",
                _gap(run),
            ]
        )
    lines += md_table(
        [
            "run",
            "asked ev/s",
            "achieved ev/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "floor p50 ms",
            "floor p99 ms",
            "floor max ms",
            "floor received",
            "p99 - floor p99",
        ],
        rows,
    )
    if fresh["runs"]:
        floor = fresh["runs"][0]["broker_floor"]
        settings = ", ".join(f"{k}={v}" for k, v in floor["consumer_settings"].items())
        lines += ["", f"Broker floor: {floor['description']}; settings {settings}.", ""]
    for run in fresh["runs"]:
        lines += _run_md(run, external)
    return lines


def _run_md(run: dict[str, Any], external: bool) -> list[str]:
    c = run["config"]
    st = run.get("stages", {})
    floors = {w["from_s"]: w for w in run["broker_floor"].get("by_window", [])}
    cores = ", ".join(f"{k} {v:.2f}" for k, v in run.get("cores", {}).items())
    if external:
        cores += "; kafka, redis, postgres: unavailable (external stack)"
    return [
        f"#### {run['label'].capitalize()} rate, {run['rate_basis']}",
        "",
        f"{run['events']:,} events at {fmt_num(run['achieved_rate'])}/s "
        f"(asked {c['rate']:,.0f}/s "
        f"for {c['seconds']:.0f} s); the processor wrote {run['processed']:,}. "
        f"{run['sampled_entities']} entities sampled (each updated about every "
        f"{1 / c['updates_per_entity_s']:.0f} s): {run['sampled_events']:,} of their events "
        f"produced, {run['observed']:,} observed, {run['superseded']:,} superseded before a "
        f"poll saw them, {run['missing']:,} missing. The sampler polled every "
        f"{c['poll_interval_ms']:g} ms ({run['polls']:,} polls, one Feast call took p50 "
        f"{fmt_ms(run['poll_ms']['p50_ms'])} / "
        f"p99 {fmt_ms(run['poll_ms']['p99_ms'])} ms), so a "
        "value is seen at most about one interval late.",
        "",
        f"Processor during the run: mean batch {fmt_num(st.get('mean_batch_events'), 1)} events, "
        f"online write {fmt_ms(st.get('online_write_ms'))} ms, offline write "
        f"{fmt_ms(st.get('offline_write_ms'))} ms per batch; cores busy: {cores}.",
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
        "By 10 s window (p50 / p99 ms; broker floor p99): "
        + ", ".join(
            f"{w['from_s']:.0f} s: {fmt_ms(w['p50_ms'])} / {fmt_ms(w['p99_ms'])}"
            + (f" (floor {fmt_ms(f['p99_ms'])})" if (f := floors.get(w["from_s"])) else "")
            for w in run.get("by_window", [])
        )
        + ".",
        "",
        "Broker floor's fetch wait (from seconds after the first produce): "
        + ", ".join(f"{ms} ms from {at:g} s" for at, ms in run["broker_floor"]["fetch_wait_ms"])
        + ".",
        "",
        "Slowest samples (seconds after the first produce: ms): "
        + ", ".join(f"{at:.1f} s: {ms:.0f}" for at, ms in run.get("slowest", []))
        + ".",
        "",
    ]
