"""The freshness part: a run at the fixed rate, and one at a fraction of the one-worker rate.

The fixed rate (`--rate`, 1,000 events/s) compares with earlier runs and other machines; the
relative one (`--relative-rate`, 25% of what one processor worker ingested in the same session)
puts the processor under the same share of its capacity on any machine. Each run has its own
broker floor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from bench.config import FreshnessConfig, IngestConfig
from bench.freshness import run_freshness
from bench.memory import MemoryMonitor
from bench.stack import BenchStack
from producers.entities import EntityPool

if TYPE_CHECKING:
    from bench.cli import Sizes

Say = Callable[[str], None]


@dataclass(frozen=True)
class OneWorker:
    """The one-worker ingestion rate the relative run is a fraction of, and where it came from."""

    events_per_s: float | None
    source: str


def from_ingest(ingest: dict[str, Any]) -> OneWorker:
    """The rate of the ingestion part of the same session (median of its verified rounds)."""
    rounds = ingest["config"]["rounds"]
    return OneWorker(
        ingest["median_events_per_s"].get("processor-1w"),
        f"the ingestion part: processor-1w, median of {rounds} round{'s' * (rounds > 1)}",
    )


def planned_rates(
    config: FreshnessConfig, one_worker: float | None
) -> list[tuple[str, float, str]]:
    """(label, events/s, where the rate comes from) of each run."""
    plans = [("fixed", config.rate, "as given (--rate)")]
    if config.relative_rate and one_worker:
        plans.append(
            (
                "relative",
                config.relative_rate * one_worker,
                f"{config.relative_rate:.0%} of one worker's {one_worker:,.0f} events/s",
            )
        )
    return plans


def probe_one_worker(
    stack: BenchStack, pool: EntityPool, ingest: IngestConfig, events: int, monitor: MemoryMonitor
) -> OneWorker:
    """A short processor-1w run, as the ingestion part times and verifies one."""
    from bench.ingest import one_worker_run
    from core.feast_store import open_store

    run = one_worker_run(stack, open_store(stack.settings), pool, ingest, events, monitor)
    source = f"a {events:,}-event processor-1w run before the freshness runs"
    if not run.verified:
        return OneWorker(None, f"{source} (not verified: {'; '.join(run.errors)})")
    return OneWorker(run.events_per_s, source)


def run_freshness_part(
    stack: BenchStack,
    pool: EntityPool,
    sizes: Sizes,
    monitor: MemoryMonitor,
    say: Say,
    one_worker: OneWorker | None,
) -> dict[str, Any]:
    """Every planned run; the part's JSON (`runs`, `one_worker`, `errors`, `verified`)."""
    config = sizes.freshness
    if config.relative_rate and one_worker is None:
        say(f"freshness: one worker's rate first ({config.probe_events:,} events, as in ingest)")
        one_worker = probe_one_worker(stack, pool, sizes.ingest, config.probe_events, monitor)
    rate = one_worker.events_per_s if one_worker else None
    runs = []
    for label, events_per_s, basis in planned_rates(config, rate):
        result = run_freshness(stack, pool, replace(config, rate=events_per_s), monitor, say, label)
        result.rate_basis = basis
        runs.append(result.to_json())
    return part_json(runs, config, one_worker)


def part_json(
    runs: list[dict[str, Any]], config: FreshnessConfig, one_worker: OneWorker | None
) -> dict[str, Any]:
    """The part's report: its runs side by side, and every error named by its run."""
    errors = [f"{run['label']} rate: {e}" for run in runs for e in run["errors"]]
    if config.relative_rate and (one_worker is None or one_worker.events_per_s is None):
        source = one_worker.source if one_worker else "nothing measured it"
        errors.append(f"no one-worker rate ({source}): the relative-rate run did not run")
    return {
        "runs": runs,
        "relative_rate": config.relative_rate,
        "one_worker": asdict(one_worker) if one_worker else None,
        "errors": errors,
        "verified": not errors,
    }
