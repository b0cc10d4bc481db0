"""One benchmark session: the stack, the history, the chosen parts, memory, profiles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.freshness_part import from_ingest, run_freshness_part
from bench.goals import evaluate
from bench.ingest import run_ingest
from bench.machine import machine_info
from bench.memory import MemoryMonitor
from bench.scoring import run_scoring
from bench.stack import BenchStack, bench_stack, load_history, prepare_external
from core.settings import Settings
from history import History, generate_history
from producers.entities import pool_from_history

if TYPE_CHECKING:
    from bench.cli import Sizes

Say = Callable[[str], None]

PROFILED_EVENTS = 100_000  # the extra processor run under py-spy: long enough to be steady


def run_parts(
    settings: Settings,
    parts: Sequence[str],
    sizes: Sizes,
    *,
    profile: bool,
    keep: bool,
    say: Say,
    external: bool = False,
) -> dict[str, Any]:
    """Run `parts` on a new stack (or the configured services, `external`); the report as a
    JSON-ready dict (`verified`, `errors`...)."""
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "stack": "external" if external else "embedded",
    }
    monitor = MemoryMonitor().start()
    errors: list[str] = []
    try:
        with bench_stack(settings, external=external, keep=keep) as stack:
            for name, pid in stack.service_pids().items():
                monitor.watch(name, pid)
            report["machine"] = machine_info(stack.stack)
            report["state_dir"] = str(stack.root)
            history = generate_history(persons=sizes.persons, zipcodes=sizes.zipcodes)
            if external:
                say(
                    f"external stack: Kafka {settings.kafka_bootstrap_servers}, Redis "
                    f"{settings.redis_host}:{settings.redis_port}, Postgres "
                    f"{settings.postgres_url_masked}; ensuring tables and registry, no history load"
                )
                prepare_external(stack, scoring="scoring" in parts)
            else:
                say(
                    f"stack up in {stack.root}; loading {sizes.persons:,} persons, "
                    f"{sizes.zipcodes:,} zipcodes"
                )
                load_history(stack, history)
            report.update(_run(stack, history, parts, sizes, monitor, profile, say))
    finally:
        monitor.stop()
    report["memory"] = {name: asdict(peak) for name, peak in monitor.peaks.items()}
    for part in parts:
        errors += [f"{part}: {e}" for e in _part_errors(report.get(part))]
    report["errors"] = errors
    report["verified"] = not errors
    report["goals"] = [asdict(g) for g in evaluate(report)]
    return report


def _part_errors(part: dict[str, Any] | None) -> list[str]:
    if part is None:
        return ["did not run"]
    if "runs" in part and "median_events_per_s" in part:  # ingestion
        return [
            f"{r['consumer']} round {r['round']}: {e}" for r in part["runs"] for e in r["errors"]
        ]
    return list(part.get("errors", []))


def _run(
    stack: BenchStack,
    history: History,
    parts: Sequence[str],
    sizes: Sizes,
    monitor: MemoryMonitor,
    profile: bool,
    say: Say,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    profiles: dict[str, Any] = {}
    pool = pool_from_history(history)
    if "ingest" in parts:
        from core.feast_store import open_store

        monitor.phase = "ingest"
        store = open_store(stack.settings)
        out["ingest"] = run_ingest(stack, store, pool, sizes.ingest, monitor, say).to_json()
        if profile:
            from bench.ingest import profile_processor

            count = min(sizes.ingest.events, PROFILED_EVENTS)
            say(f"profiling: processor-1w on {count:,} events under py-spy (not measured)")
            profiles["processor-1w (ingestion)"] = profile_processor(
                stack, pool, replace(sizes.ingest, events=count), monitor
            ).to_json()
    if "freshness" in parts:
        monitor.phase = "freshness"
        one_worker = from_ingest(out["ingest"]) if "ingest" in out else None
        out["freshness"] = run_freshness_part(stack, pool, sizes, monitor, say, one_worker)
    if "scoring" in parts:
        from training.train import train_model

        monitor.phase = "scoring"
        say("scoring: training the model on the offline store")
        model_dir = stack.settings.model_path
        train_model(stack.settings, model_dir=model_dir)
        result = run_scoring(stack, history, model_dir, sizes.scoring, monitor, say, profile)
        out["scoring"] = result.to_json()
        if result.profile is not None:
            profiles["scoring-api (closed loop)"] = result.profile
    out["profiles"] = profiles
    return out
