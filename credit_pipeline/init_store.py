"""`credit-pipeline init`: tables, history load, Feast apply, materialization to Redis."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.console import Progress, progress_bar
from core.contract import CREDIT_HISTORY, LOAN_TABLE, VIEWS, ZIPCODE_FEATURES
from core.history import History
from core.offline_store import PostgresOfflineWriter
from core.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# A terminal control sequence (colour, cursor movement).
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class InitReport:
    """What `init` did: rows offered and rows new per table, and the materialized window."""

    offered: dict[str, int] = field(default_factory=dict)
    inserted: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    materialized: tuple[datetime, datetime] | None = None


def _frames(history: History) -> dict[str, pd.DataFrame]:
    return {
        ZIPCODE_FEATURES.name: history.zipcodes,
        CREDIT_HISTORY.name: history.credit_history,
    }


def load_history(writer: PostgresOfflineWriter, history: History, report: InitReport) -> None:
    """Append the history to the offline tables; rows already there are skipped."""
    frames = _frames(history)
    total = sum(len(f) for f in frames.values()) + len(history.loans)
    with progress_bar(total, "rows copied", unit="rows") as bar:
        for view in VIEWS:
            frame = frames[view.name]
            report.offered[view.table] = len(frame)
            report.inserted[view.table] = writer.append_view_history(view, frame)
            bar.update(len(frame))
        report.offered[LOAN_TABLE] = len(history.loans)
        report.inserted[LOAN_TABLE] = writer.append_loans(history.loans)
        bar.update(len(history.loans))
    for table in (*(v.table for v in VIEWS), LOAN_TABLE):
        report.totals[table] = writer.count(table)


def materialize_latest(
    settings: Settings, writer: PostgresOfflineWriter
) -> tuple[datetime, datetime] | None:
    """Copy the latest offline value of every entity into Redis, via Feast."""
    from core.feast_store import apply_definitions, open_store

    store = open_store(settings)
    apply_definitions(store)
    starts = [writer.time_range(v.table)[0] for v in VIEWS]
    starts = [s for s in starts if s is not None]
    if not starts:
        log.warning("offline tables are empty: nothing to materialize")
        return None
    start = min(starts) - timedelta(seconds=1)
    end = datetime.now(UTC) + timedelta(seconds=1)
    with progress_bar(len(VIEWS), "views materialized", unit="views") as bar:
        for number, view in enumerate(VIEWS, start=1):
            began = time.perf_counter()
            # Feast prints a banner with terminal colour codes on stdout; in a log file they
            # are noise. Our own line per view says what was done and how long it took.
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                store.materialize(start_date=start, end_date=end, feature_views=[view.name])
            for line in _ANSI_ESCAPE.sub("", printed.getvalue()).splitlines():
                if line.strip():
                    log.debug("feast: %s", line.strip())
            bar.update()
            log.info(
                "materialized %s into Redis (%d of %d) in %.1f s",
                view.name,
                number,
                len(VIEWS),
                time.perf_counter() - began,
            )
    return start, end


def run_init(settings: Settings, history: History, progress: Progress | None = None) -> InitReport:
    """Create tables, bulk-load `history`, apply the feature repo and materialize. Idempotent."""
    progress = progress or Progress(total=3)
    report = InitReport()
    with PostgresOfflineWriter(settings) as writer:
        with progress.step(f"creating offline tables in {settings.postgres_url_masked}"):
            writer.create_tables()
        with progress.step("loading history into Postgres (COPY)") as details:
            load_history(writer, history, report)
            details.extend(
                f"{t} {report.inserted[t]:,} new of {report.offered[t]:,} "
                f"(total {report.totals[t]:,})"
                for t in report.offered
            )
        with progress.step(
            "applying the feature repository and materializing into Redis"
        ) as details:
            report.materialized = materialize_latest(settings, writer)
            if report.materialized:
                lo, hi = report.materialized
                details.append(f"window {lo:%Y-%m-%d} .. {hi:%Y-%m-%d %H:%M}")
    return report
