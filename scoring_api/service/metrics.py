"""Prometheus metrics of the scoring API: decisions, the decision log, store outages.

One `ApiMetrics` per app, in the app's own registry (tests build many apps in one process).
Under `serve --workers N` each worker is a process of its own and a scrape reaches one of them,
so the command sets PROMETHEUS_MULTIPROC_DIR before the workers start (scoring_api/cli.py):
prometheus_client then keeps every value in a file per process there, and `exposition()` merges
the files of all workers. Counters are summed over workers (a dead worker's count stays in the
sum); `credit_api_store_up` is the lowest over live workers (one worker in an outage shows 0),
the decision-log backlog their sum.

The request path only increments a counter (a pre-labelled child: no label lookup).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

# What prometheus_client's own endpoint answers a plain scrape with (what generate_latest is).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# prometheus_client.multiprocess has no annotations.
_collect_files = cast(
    "Callable[[CollectorRegistry, str], object]", multiprocess.MultiProcessCollector
)
_mark_process_dead = cast("Callable[[int, str], None]", multiprocess.mark_process_dead)

Store = Literal["decision_log", "key_store", "online_store"]
RecordOutcome = Literal["delivered", "refused", "failed"]


def multiprocess_dir() -> str | None:
    """The directory this process's values are kept in, when prometheus_client chose its
    multi-process mode (it decides once, when first imported, from PROMETHEUS_MULTIPROC_DIR)."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get(MULTIPROC_ENV) or None


class ApiMetrics:
    """The API's series, in `registry` (a new one by default, never the global REGISTRY)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.multiprocess_dir = multiprocess_dir()
        r = self.registry
        decisions = Counter(
            "credit_api_decisions",
            "Loan decisions answered (HTTP 200), by outcome; a refused request is not counted",
            ["decision"],
            registry=r,
        )
        self._decided = {True: decisions.labels("approved"), False: decisions.labels("rejected")}
        records = Counter(
            "credit_api_decision_log_records",
            "Decision records by what became of them: delivered (acknowledged by the broker), "
            "refused (buffer full: the request got 503 decision_log_unavailable and no decision "
            "was made), failed (the broker refused the record for good; logged)",
            ["outcome"],
            registry=r,
        )
        outcomes: tuple[RecordOutcome, ...] = ("delivered", "refused", "failed")
        self.records = {outcome: records.labels(outcome) for outcome in outcomes}
        self.decision_log_waiting = Gauge(
            "credit_api_decision_log_waiting",
            "Decision records answered but not yet acknowledged by the broker (in the workers' "
            "buffers; at CREDIT_DECISION_LOG_BUFFER per worker decisions get 503)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.store_up = Gauge(
            "credit_api_store_up",
            "1 while the API reaches the store, 0 during an outage (under several workers: 0 "
            "while any worker sees one)",
            ["store"],
            registry=r,
            multiprocess_mode="livemin",
        )

    # -- the request path ------------------------------------------------------------------

    def decided(self, approved: bool) -> None:
        """One decision answered."""
        self._decided[approved].inc()

    # -- state -----------------------------------------------------------------------------

    def store_state(self, store: Store) -> Callable[[bool], None]:
        """A callback setting the store's gauge: True while reachable, False in an outage.
        The store starts up (1)."""
        gauge = self.store_up.labels(store=store)

        def changed(up: bool) -> None:
            gauge.set(1 if up else 0)

        changed(True)
        return changed

    # -- exposition ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text of this process, or of every worker in multi-process mode."""
        path = self.multiprocess_dir
        if path is None:
            return generate_latest(self.registry)
        forget_dead_workers(path)
        merged = CollectorRegistry()
        _collect_files(merged, path)
        return generate_latest(merged)

    def close(self) -> None:
        """At the end of this worker: its gauges leave the merge (its counters stay)."""
        if self.multiprocess_dir is not None:
            _mark_process_dead(os.getpid(), self.multiprocess_dir)


def forget_dead_workers(path: str) -> None:
    """Drop the gauge files of workers that ended without closing (killed): their last
    store_up or backlog would otherwise stay in the merge. A worker uvicorn restarts has a new
    pid, so its values start fresh."""
    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid_text = Path(file).stem.rpartition("_")[2]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            _mark_process_dead(int(pid_text), path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, under another user
        return True
    return True
