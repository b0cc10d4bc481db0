"""The ingestion part's figures: runs, stages one by one, medians and ratios over rounds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.config import IngestConfig
from bench.consumers import ConsumerKind, consume_only, processor, push_batch, push_per_event
from bench.stats import median, ratio

WRITTEN_WITHIN_MS = (20.0, 50.0, 100.0, 200.0, 500.0)


def stage_figures(
    before: dict[str, float], after: dict[str, float], wall: float, workers: int
) -> dict[str, float]:
    """Mean batch size, mean write time per store, and the share of each worker's wall time
    spent in a write of each store, from the processor's cumulative metrics."""

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    batches = delta("credit_stream_batch_size_count")
    figures = {"batches": batches}
    if batches:
        figures["mean_batch_events"] = delta("credit_stream_batch_size_sum") / batches
    # The processor's own freshness histogram (event time -> online write done): the share of
    # events written within each bound, before any reader looks.
    prefix = "credit_stream_freshness_ms_bucket{"
    written = delta(prefix + "+Inf}")
    if written:
        for key in sorted(after):
            if key.startswith(prefix) and not key.endswith("+Inf}"):
                bound = key[len(prefix) : -1]
                if float(bound) in WRITTEN_WITHIN_MS:
                    figures[f"written_within_{float(bound):g}ms"] = delta(key) / written
    for store in ("online", "offline"):
        seconds = delta(f"credit_stream_write_seconds_sum{{{store}}}")
        writes = delta(f"credit_stream_write_seconds_count{{{store}}}")
        if writes:
            figures[f"{store}_write_ms"] = 1000 * seconds / writes
            figures[f"{store}_busy_share"] = seconds / (wall * workers)
    return figures


def summarise(
    config: IngestConfig, kinds: Sequence[ConsumerKind], runs: list[IngestRun]
) -> IngestResult:
    names = [k.name for k in kinds]
    rates = {
        name: median([r.events_per_s for r in runs if r.consumer == name and r.verified])
        for name in names
    }
    ratios: dict[str, float | None] = {}
    rounds = sorted({r.round for r in runs})
    for num, den in ratio_pairs(config):
        if num not in names or den not in names:
            continue  # a consumer left out with --only
        per_round = []
        for round_no in rounds:
            by_name = {r.consumer: r for r in runs if r.round == round_no and r.verified}
            if num in by_name and den in by_name:
                value = ratio(by_name[num].events_per_s, by_name[den].events_per_s)
                if value is not None:
                    per_round.append(value)
        ratios[f"{num} / {den}"] = median(per_round)
    return IngestResult(
        config=asdict(config),
        consumers={k.name: {"description": k.description, "stores": k.stores} for k in kinds},
        runs=runs,
        median_events_per_s=rates,
        ratios=ratios,
    )


@dataclass
class IngestRun:
    """One consumer's run: events, time, rate, and what the stores were checked to hold."""

    consumer: str
    round: int
    events: int
    done: int
    seconds: float
    events_per_s: float
    produce_events_per_s: float
    capped: bool
    counter: int
    offline_rows: dict[str, list[int]] | None  # view -> [rows found, rows expected]
    online_checked: int
    online_matched: int
    rebalances: int
    cores: dict[str, float] = field(default_factory=dict)  # per service, during the run
    stages: dict[str, float] = field(default_factory=dict)  # the processor's batch figures
    errors: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.errors


@dataclass
class IngestResult:
    """Every run, the median rate per consumer and the medians of the per-round ratios."""

    config: dict[str, Any]
    consumers: dict[str, dict[str, str]]
    runs: list[IngestRun]
    median_events_per_s: dict[str, float | None]
    ratios: dict[str, float | None]
    stage_us: dict[str, float] = field(default_factory=dict)  # bench.stages, per event

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for run, raw in zip(self.runs, data["runs"], strict=True):
            raw["verified"] = run.verified
        return data


def ratio_pairs(config: IngestConfig) -> list[tuple[str, str]]:
    """(numerator, denominator) consumer pairs whose rate ratios the report shows."""
    batch, naive = push_batch(config.batch_rows).name, push_per_event().name
    procs = [processor(n).name for n in config.workers]
    pairs = [(p, batch) for p in procs] + [(p, naive) for p in procs] + [(batch, naive)]
    pairs += [(p, procs[0]) for p in procs[1:]]
    pairs.append((procs[0], consume_only(config.batch_rows).name))
    return pairs
