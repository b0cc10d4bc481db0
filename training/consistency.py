"""Training–serving consistency: served feature values of logged decisions against the offline
store's point-in-time values (`credit-pipeline consistency`).

Every decision record (core/decision_log.py) holds each view's values exactly as the API read
them online. For the same entity keys at the same instant (`decided_at`), the training frame's
own point-in-time join (`training.frame.join_features`: same feature service, same chunking,
same dtypes) says what training would have read. A value that differs is skew: training and
serving disagree about one applicant at one moment.

Semantics, per decision, view and feature:

- served `present`: the served value is compared with the offline one; Float32 features with
  float32 rounding on both sides (online reads give the float32 widened to a double, the
  offline store keeps whatever it was written as), everything else exactly (after NaN, None
  and pandas' missing markers all become None, numpy scalars Python values, and int features
  that pandas turned into floats ints again: 3 == 3.0).
- served `missing` or `stale`: the model got nulls, so they are compared with the offline
  value, which should be null too; an offline value there is a mismatch (the API decided
  without data training would have had).
- served `present` but `older_than_ttl`: the view's serving_max_age let the API use a row older
  than the view's TTL, while the point-in-time join looks back only one TTL and finds nothing
  by design. That difference is a serving policy the response already warns about, not the
  two stores drifting apart, so such values are counted as "not comparable", never as
  mismatches. So are features without an offline counterpart (no longer in the service).

Known limit: an event that happened before a decision but reached the stores after it is in
the offline join and was not online yet: it shows as a mismatch, which it is for that decision.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from psycopg2 import Error as PostgresError
from psycopg2 import errors as pg_errors

from core.contract import (
    ENTITY_KEYS,
    EVENT_TIMESTAMP,
    MASK,
    VIEWS_BY_NAME,
    scoring_service,
)
from core.decision_log import RECORD_VERSION, TABLE, DecisionLogStore
from core.errors import CreditPipelineError
from core.model.columns import LABEL, LOAN_ID, ModelColumns, feature_column
from core.model.errors import TrainingError
from core.settings import Settings
from training.frame import ENTITY_NAMES, PIT_CHUNK_ROWS, join_features

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

log = logging.getLogger(__name__)

Precision = Literal["float32", "exact"]
DEFAULT_EXAMPLES = 3
_PRESENT = "present"  # the record's status of a view read within its serving max age


class ConsistencyError(CreditPipelineError):
    """The report cannot be made; the message says why and what to do."""


class NoDecisionsError(ConsistencyError):
    """No decision is logged in the requested window."""


@dataclass(frozen=True, slots=True)
class Example:
    """One mismatch: whose, and the two values (the entity key masked if sensitive)."""

    request_id: str
    entity_key: str
    entity: str
    served: Any
    offline: Any


@dataclass
class FeatureTally:
    """Counts of one feature over the decisions; `examples` holds the first few mismatches."""

    view: str
    feature: str
    compared: int = 0
    mismatches: int = 0
    not_comparable: int = 0
    examples: list[Example] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "mismatches": self.mismatches,
            "not_comparable": self.not_comparable,
            "examples": [
                {
                    "request_id": e.request_id,
                    "entity_key": e.entity_key,
                    "entity": e.entity,
                    "served": e.served,
                    "offline": e.offline,
                }
                for e in self.examples
            ],
        }


@dataclass(frozen=True)
class ConsistencyReport:
    """The comparison of `decisions` logged decisions, one tally per view and feature."""

    decisions: int
    first_decided_at: str | None
    last_decided_at: str | None
    tallies: tuple[FeatureTally, ...]

    @property
    def compared(self) -> int:
        return sum(t.compared for t in self.tallies)

    @property
    def mismatches(self) -> int:
        return sum(t.mismatches for t in self.tallies)

    @property
    def not_comparable(self) -> int:
        return sum(t.not_comparable for t in self.tallies)

    def views(self) -> dict[str, list[FeatureTally]]:
        """The tallies grouped by view, in the order they were first seen."""
        grouped: dict[str, list[FeatureTally]] = {}
        for tally in self.tallies:
            grouped.setdefault(tally.view, []).append(tally)
        return grouped

    def to_json(self) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "first_decided_at": self.first_decided_at,
            "last_decided_at": self.last_decided_at,
            "compared": self.compared,
            "mismatches": self.mismatches,
            "not_comparable": self.not_comparable,
            "views": {
                view: {
                    "compared": sum(t.compared for t in tallies),
                    "mismatches": sum(t.mismatches for t in tallies),
                    "not_comparable": sum(t.not_comparable for t in tallies),
                    "features": {t.feature: t.to_json() for t in tallies},
                }
                for view, tallies in self.views().items()
            },
        }


# -- the comparison (pure) -----------------------------------------------------------------


def plain(value: Any) -> Any:
    """A value as JSON has it: numpy scalars as Python, every missing marker as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def values_equal(served: Any, offline: Any, precision: Precision = "exact") -> bool:
    """Whether a served value and an offline value are the same feature value."""
    served, offline = plain(served), plain(offline)
    if served is None or offline is None:
        return served is None and offline is None
    numbers = (int, float)
    if isinstance(served, numbers) and isinstance(offline, numbers):
        if isinstance(served, bool) or isinstance(offline, bool):
            return type(served) is type(offline) and served == offline
        if precision == "float32":
            return bool(np.float32(served) == np.float32(offline))
        return served == offline
    return type(served) is type(offline) and served == offline


def compare_decisions(
    records: Sequence[Mapping[str, Any]],
    offline: Sequence[Mapping[str, Any]],
    precision: Mapping[str, Precision],
    max_examples: int = DEFAULT_EXAMPLES,
) -> ConsistencyReport:
    """Tally each record's served values against `offline[i]`, the point-in-time values of
    record i by `view:feature` reference (the module docstring has the semantics).

    `precision` says which references are Float32 (those it does not name compare exactly);
    its order is the report's.
    """
    if len(records) != len(offline):
        raise ValueError(f"{len(records)} records but {len(offline)} offline rows")
    tallies: dict[str, FeatureTally] = {}
    for record, row in zip(records, offline, strict=True):
        application = record["application"]
        for view, reading in record["features"].items():
            present = reading["status"] == _PRESENT
            comparable = not (present and reading.get("older_than_ttl", False))
            key_name, shown = _masked_key(view, application)
            for feature, served in reading["values"].items():
                ref = f"{view}:{feature}"
                tally = tallies.get(ref)
                if tally is None:
                    tally = tallies[ref] = FeatureTally(view, feature)
                if not comparable or ref not in row:
                    tally.not_comparable += 1
                    continue
                tally.compared += 1
                # A view served missing or stale gave the model nulls, whatever it holds.
                value = plain(served) if present else None
                other = plain(row[ref])
                if values_equal(value, other, precision.get(ref, "exact")):
                    continue
                tally.mismatches += 1
                if len(tally.examples) < max_examples:
                    example = Example(record["request_id"], key_name, shown, value, other)
                    tally.examples.append(example)
    times = sorted(str(r["decided_at"]) for r in records)
    # The service's order (a JSONB record does not keep its keys'), then any others as seen.
    order = {ref: position for position, ref in enumerate(precision)}
    ranked = sorted(tallies.items(), key=lambda item: order.get(item[0], len(order)))
    return ConsistencyReport(
        decisions=len(records),
        first_decided_at=times[0] if times else None,
        last_decided_at=times[-1] if times else None,
        tallies=tuple(tally for _, tally in ranked),
    )


def _masked_key(view: str, application: Mapping[str, Any]) -> tuple[str, str]:
    """(key name, key as a person may see it) of the view's entity in an application."""
    contract = VIEWS_BY_NAME.get(view)
    if contract is None:  # a view no longer in the contract: its key's rules are unknown
        return "?", MASK
    key = contract.entity_key
    return key.name, key.mask(application.get(key.name))


# -- the two stores ------------------------------------------------------------------------


def read_decisions(
    settings: Settings,
    *,
    since: datetime | None = None,
    request_ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The records of the decisions logged from `since` on (the newest `limit` of them),
    optionally only those of `request_ids`; NoDecisionsError when there are none."""
    where = f"{settings.postgres_schema}.{TABLE} in {settings.postgres_url_masked}"
    log_store = DecisionLogStore(settings)
    try:
        rows = log_store.select(since=since, limit=limit, newest_first=True)
    except pg_errors.UndefinedTable:
        raise NoDecisionsError(
            f"there is no decision log table {where}: the stream processor creates it when it "
            "appends the API's first decision (CREDIT_DECISION_LOG=true)"
        ) from None
    except PostgresError as exc:
        raise ConsistencyError(f"cannot read the decision log {where}: {str(exc).strip()}") from exc
    finally:
        log_store.close()
    if request_ids is not None:
        wanted = set(request_ids)
        rows = [r for r in rows if r.request_id in wanted]
    if not rows:
        window = "ever" if since is None else f"since {since.isoformat(timespec='seconds')}"
        raise NoDecisionsError(
            f"no decisions logged {window} in {where}: widen --since, or score some loans "
            "first (the processor logs them within seconds)"
        )
    records = [r.record for r in reversed(rows)]  # oldest first
    unknown = {r.get("record_version") for r in records} - {RECORD_VERSION}
    if unknown:
        raise ConsistencyError(
            f"decision records of version {sorted(map(str, unknown))}; this reader knows "
            f"{RECORD_VERSION}: upgrade credit-pipeline"
        )
    return records


def feature_precisions(service: FeatureService) -> dict[str, Precision]:
    """Each `view:feature` of the service, and how its values compare (Float32 or exact)."""
    return {
        f"{projection.name_to_use()}:{feature.name}": (  # type: ignore[no-untyped-call]
            "float32" if str(feature.dtype) == "Float32" else "exact"
        )
        for projection in service.feature_view_projections
        for feature in projection.features
    }


def recorded_refs(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The `view:feature` references the records hold, in the order first seen."""
    refs: dict[str, None] = {}
    for record in records:
        for view, reading in record["features"].items():
            refs.update(dict.fromkeys(f"{view}:{feature}" for feature in reading["values"]))
    return list(refs)


def offline_values(
    store: FeatureStore,
    service: FeatureService,
    records: Sequence[Mapping[str, Any]],
    refs: Sequence[str],
    chunk_rows: int = PIT_CHUNK_ROWS,
) -> list[dict[str, Any]]:
    """Per record, the point-in-time value of each of `refs` (features of `service`) for its
    entity keys at its `decided_at`: the training frame's own join, so "offline" means exactly
    what training reads."""
    # join_features joins loans: a record's position serves as the loan id (unique, and maps
    # the rows back), and the label it carries through is a placeholder.
    entity_df = pd.DataFrame(
        {
            LOAN_ID: np.arange(len(records), dtype="int64"),
            **{name: _key_column(records, name) for name in ENTITY_NAMES},
            LABEL: np.zeros(len(records), dtype="int64"),
            EVENT_TIMESTAMP: pd.to_datetime(
                [r["decided_at"] for r in records], utc=True, format="ISO8601"
            ),
        }
    )
    columns = ModelColumns(request=(), feature_refs=tuple(refs))
    try:
        frame = join_features(store, service, entity_df, columns, chunk_rows)
    except TrainingError as exc:
        raise ConsistencyError(f"the offline side of the report failed: {exc}") from exc
    frame = frame.sort_values(LOAN_ID, ignore_index=True)
    out: list[dict[str, Any]] = [{} for _ in records]
    for ref in refs:
        column = feature_column(ref)
        # canonical_frame makes every number a float64; an int feature reads back as an int.
        to_int = column.kind == "int64"
        for row, value in zip(out, frame[column.name].tolist(), strict=True):
            value = plain(value)
            row[ref] = int(value) if to_int and isinstance(value, float) else value
    return out


def _key_column(records: Sequence[Mapping[str, Any]], name: str) -> pd.Series:
    values = [r["application"][name] for r in records]
    return pd.Series(values, dtype="int64" if ENTITY_KEYS[name].kind == "int64" else object)


def consistency_report(
    settings: Settings,
    *,
    since: datetime | None = None,
    request_ids: Sequence[str] | None = None,
    limit: int | None = None,
    max_examples: int = DEFAULT_EXAMPLES,
    store: FeatureStore | None = None,
) -> ConsistencyReport:
    """Compare the logged decisions (from `since`, optionally only `request_ids`) with the
    offline store; NoDecisionsError when none are logged there."""
    records = read_decisions(settings, since=since, request_ids=request_ids, limit=limit)
    if store is None:
        from core.feast_store import open_store

        store = open_store(settings)
    service = scoring_service()
    precision = feature_precisions(service)
    refs = [ref for ref in recorded_refs(records) if ref in precision]
    offline = offline_values(store, service, records, refs)
    return compare_decisions(records, offline, precision, max_examples)


# -- the table -----------------------------------------------------------------------------

_HEADER = f"{'view / feature':34}{'compared':>10}{'mismatches':>12}{'not comparable':>16}"


def format_report(report: ConsistencyReport) -> str:
    """The report as a table for a person: views, their features, a few examples each."""
    lines = [
        f"{report.decisions:,} decisions logged {report.first_decided_at} .. "
        f"{report.last_decided_at}, served values against the offline store's "
        "point-in-time values",
        "",
        _HEADER,
    ]
    for view, tallies in report.views().items():
        lines.append(_row(view, tallies))
        for tally in tallies:
            lines.append(_row(f"  {tally.feature}", [tally]))
            lines.extend(_example_lines(tally))
    lines.append(_row("total", list(report.tallies)))
    lines += ["", _verdict(report)]
    return "\n".join(lines)


def _row(label: str, tallies: Sequence[FeatureTally]) -> str:
    compared = sum(t.compared for t in tallies)
    mismatches = sum(t.mismatches for t in tallies)
    other = sum(t.not_comparable for t in tallies)
    return f"{label:34}{compared:>10,}{mismatches:>12,}{other:>16,}"


def _example_lines(tally: FeatureTally) -> Iterator[str]:
    for e in tally.examples:
        yield (
            f"      request {e.request_id}  {e.entity_key} {e.entity}: "
            f"served {e.served!r}, offline {e.offline!r}"
        )


def _verdict(report: ConsistencyReport) -> str:
    skipped = (
        f"; {report.not_comparable:,} values not comparable (used although older than the "
        "view's TTL, which the point-in-time join never looks back beyond)"
        if report.not_comparable
        else ""
    )
    if not report.mismatches:
        return f"consistent: {report.compared:,} values compared, 0 mismatches{skipped}"
    features = sum(1 for t in report.tallies if t.mismatches)
    return (
        f"SKEW: {report.mismatches:,} of {report.compared:,} served values differ from the "
        f"offline store's, in {features} feature{'s' if features != 1 else ''}{skipped}"
    )
