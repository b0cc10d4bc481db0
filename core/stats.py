"""Small statistics shared by the processor's summaries, the live feed and the benchmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, q in [0, 100]; None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(0, min(len(ordered), rank) - 1)]
