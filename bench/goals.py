"""The goals the report shows beside each figure (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    """A figure, its target and whether it was met."""

    figure: str
    value: float | None
    target: str
    met: bool | None  # None: not measured in this run


def _at_least(figure: str, value: float | None, target: float, unit: str) -> Goal:
    met = None if value is None else value >= target
    return Goal(figure, value, f">= {target:,.0f} {unit}", met)


def _at_most(figure: str, value: float | None, target: float, unit: str) -> Goal:
    met = None if value is None else value <= target
    return Goal(figure, value, f"<= {target:g} {unit}", met)


def evaluate(report: dict[str, Any]) -> list[Goal]:
    """Every goal whose part ran."""
    goals: list[Goal] = []
    ingest = report.get("ingest")
    if ingest:
        for name, rate in ingest["median_events_per_s"].items():
            if name.startswith("processor-"):
                goals.append(_at_least(f"ingest {name} (both stores)", rate, 20_000, "events/s"))
    fresh = report.get("freshness")
    for run in fresh["runs"] if fresh else []:
        p99 = run["latency_ms"]["p99_ms"]
        goals.append(_at_most(f"freshness p99 ({run['label']} rate)", p99, 50, "ms"))
    scoring = report.get("scoring")
    if scoring:
        api = scoring["medians"].get("scoring-api", {})
        goals.append(_at_most("scoring p50 at fixed rate", api.get("fixed_p50_ms"), 2, "ms"))
        goals.append(_at_most("scoring p99 at fixed rate", api.get("fixed_p99_ms"), 5, "ms"))
        goals.append(_at_least("scoring closed loop", api.get("closed_rps"), 1_500, "req/s"))
    return goals
