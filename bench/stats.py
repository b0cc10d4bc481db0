"""Percentiles and medians of the reported figures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from core.stats import percentile

__all__ = ["latency_summary", "median", "percentile", "ratio"]


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/max and the count of a latency sample, in milliseconds."""
    return {
        "count": float(len(samples_ms)),
        "p50_ms": percentile(samples_ms, 50),
        "p95_ms": percentile(samples_ms, 95),
        "p99_ms": percentile(samples_ms, 99),
        "max_ms": max(samples_ms) if samples_ms else None,
    }


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator
