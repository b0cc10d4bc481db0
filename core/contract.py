"""What the rest of the project derives from the Feast definitions.

Column lists, SQL types, event fields, enum values, the loan table's id and label: read here,
never typed again elsewhere. Entity keys carry their msgspec type and format rules here; the
types of columns and the wording of problems are in core.validation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import msgspec

from core.validation import INT64_RANGE, SCHEMA_PATTERN, field_problem

if TYPE_CHECKING:
    from feast import FeatureService, FeatureView, PushSource

log = logging.getLogger(__name__)
_Definition = TypeVar("_Definition")

Kind = Literal["int64", "float64", "string"]

SQL_TYPE: dict[str, str] = {"int64": "BIGINT", "float64": "DOUBLE PRECISION", "string": "TEXT"}

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
EVENT_ID = "event_id"
# Tags of the definitions that core.contract reads (feature_repo/definitions.py documents them).
ENUM_TAG = "enum"
ID_COLUMN_TAG = "id_column"
LABEL_COLUMN_TAG = "label_column"


# Value constraints a field's tags may declare: tag -> msgspec.Meta argument.
BOUND_TAGS = {"minimum": "ge", "maximum": "le", "exclusive_minimum": "gt"}
AT_MOST_TAG = "at_most"
SERVING_MAX_AGE_TAG = "serving_max_age"
# A feature whose larger values may never make a default less likely ("increases"), as credit
# logic demands of missed payments, bankruptcies, amounts due and hard pulls: the model is
# trained monotone in it. "reason": how a decision's reason names the value ("{value} ...").
RISK_TAG = "risk"
REASON_TAG = "reason"
RISK_DIRECTIONS = {"increases": 1, "decreases": -1}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    # The only values of a string column, in the definitions' order (its "enum" tag).
    values: tuple[str, ...] | None = None
    # Bounds of a number as msgspec.Meta arguments, e.g. (("ge", 0),), from its tags.
    bounds: tuple[tuple[str, int | float], ...] = ()
    description: str = ""
    # Another column of the same view whose value this one may not exceed (its "at_most" tag).
    at_most: str | None = None
    # +1: more of it never lowers P(default); -1: never raises it; 0: free (its "risk" tag).
    risk: int = 0
    # The reason phrase's template, "{value}" standing for the value (its "reason" tag).
    reason: str | None = None

    def reason_phrase(self, value: object) -> str:
        """How a decision's reason names this column's value, for a person to read."""
        if value is None or (isinstance(value, float) and value != value):
            return f"no {self.name.replace('_', ' ')} on record"
        shown = f"{value:,}" if isinstance(value, int) and self.kind == "int64" else str(value)
        if isinstance(value, float):
            shown = f"{value:,.2f}".rstrip("0").rstrip(".")
        if self.reason:
            return self.reason.replace("{value}", shown)
        return f"{self.name.replace('_', ' ')}: {shown}"

    @property
    def sql_type(self) -> str:
        return SQL_TYPE[self.kind]


MASK = "********"  # every sensitive key value, in anything a person or a log may read

# YYYYMMDD of a real date from 1900 on (what `_birth_date_problem` accepts), as a regex: a
# month's days, February's 29th only in leap years (centuries only when divisible by 400).
_YEAR = "(?:19|[2-9][0-9])[0-9]{2}"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
    "|02(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = "(?:(?:19|[2-9][0-9])(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[3579][26])00)"
BIRTH_DATE_PATTERN = f"(?:{_YEAR}{_MONTH_DAY}|{_LEAP_YEAR}0229)"
_EIGHT_DIGITS = "^[0-9]{8}"


@dataclass(frozen=True)
class EntityKey:
    """An entity's join key with the format rules its Feast tags declare."""

    name: str
    kind: Kind
    tags: dict[str, str]
    description: str = ""

    @property
    def sensitive(self) -> bool:
        return self.tags.get("sensitive") == "true"

    @cached_property
    def value_type(self) -> Any:
        """The key's msgspec type: the format (string) or range (integer) its tags declare."""
        notes = [self.description] if self.description else []
        if self.sensitive:
            notes.append("Sensitive: never logged or echoed in clear")
        text = ". ".join(notes) or None
        if self.kind == "string":
            pattern = self.tags.get("pattern")
            extra = None
            if self._starts_with_date and pattern and pattern.startswith(_EIGHT_DIGITS):
                # The schema says which dates (core.validation.SCHEMA_PATTERN): a generator of
                # examples (schemathesis) then agrees with `check`. Validation keeps the plain
                # pattern plus `check`, whose message says what is wrong with the date.
                exact = "^" + BIRTH_DATE_PATTERN + pattern[len(_EIGHT_DIGITS) :]
                extra = {SCHEMA_PATTERN: exact}
            meta = msgspec.Meta(pattern=pattern, description=text, extra=extra)
            return Annotated[str, meta]
        lo, hi = self.tags.get("minimum"), self.tags.get("maximum")
        return Annotated[
            int,
            msgspec.Meta(
                ge=INT64_RANGE[0] if lo is None else int(lo),
                le=INT64_RANGE[1] if hi is None else int(hi),
                description=text,
            ),
        ]

    @cached_property
    def _starts_with_date(self) -> bool:
        return self.tags.get("starts_with_date") == "true"

    def check(self, value: Any) -> None:
        """What a key's type cannot say (a valid birth date); ValueError without the value."""
        if self._starts_with_date:
            problem = _birth_date_problem(value[:8])
            if problem:
                raise ValueError(f"{self.name} {problem}")

    def mask(self, value: object) -> str:
        """A form of `value` safe for logs, error messages and dead letters: a sensitive key
        is always MASK, which tells neither its length nor any of its characters."""
        return MASK if self.sensitive else str(value)

    def parse(self, value: Any) -> Any:
        """The validated key, or ValueError whose message never shows the value.

        Not even a mask of a malformed key: its length and last characters are data too.
        """
        problem = field_problem(self.name, self.value_type, value)
        if problem is not None:
            raise ValueError(f"{self.name} {problem.message}")
        self.check(value)
        return value


@lru_cache(maxsize=1 << 16)  # a few tens of thousands of birth dates; the hot path repeats them
def _birth_date_problem(yyyymmdd: str) -> str | None:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return "does not start with a valid date (YYYYMMDD)"
    if born.year < 1900:
        return "birth year is before 1900"
    return None


@dataclass(frozen=True)
class ViewContract:
    """One feature view as the pipeline sees it: entity, features, push source, offline table."""

    name: str
    entity_key: EntityKey
    features: tuple[Column, ...]
    # Offline table (unqualified; the schema comes from settings).
    table: str
    push_source_name: str
    # The view's TTL, None when it has none (0 in Feast).
    ttl: timedelta | None
    tags: tuple[tuple[str, str], ...] = ()

    @cached_property
    def entity(self) -> Column:
        return Column(self.entity_key.name, self.entity_key.kind)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @property
    def view(self) -> FeatureView:
        """The Feast FeatureView itself (imports Feast)."""
        from feast import FeatureView

        return _definition(FeatureView, self.name)

    @property
    def push_source(self) -> PushSource:
        """The Feast PushSource of the view (imports Feast)."""
        from feast import PushSource

        return _definition(PushSource, self.push_source_name)

    @cached_property
    def serving_max_age(self) -> timedelta | None:
        """How old an online row the API may use (None: any age); its tag, else the TTL."""
        tag = dict(self.tags).get(SERVING_MAX_AGE_TAG)
        if tag is None:
            return self.ttl
        if tag == "none":
            return None
        if not (tag.endswith("d") and tag[:-1].isdigit()):
            raise ValueError(f"{self.name}: {SERVING_MAX_AGE_TAG} must be 'none' or '<N>d'")
        return timedelta(days=int(tag[:-1]))

    @cached_property
    def orderings(self) -> tuple[tuple[str, str], ...]:
        """(lower, upper) feature pairs: `lower` may not exceed `upper` (their at_most tags)."""
        return tuple((c.name, c.at_most) for c in self.features if c.at_most is not None)

    def disorder(self, row: Mapping[str, Any]) -> tuple[str, str] | None:
        """The first (lower, upper) pair whose values in `row` break their order, or None."""
        for lower, upper in self.orderings:
            if row[lower] > row[upper]:
                return lower, upper
        return None

    @property
    def row_columns(self) -> tuple[Column, ...]:
        """Entity key then features: the full row of an update event."""
        return (self.entity, *self.features)

    def feature_refs(self) -> list[str]:
        return [f"{self.name}:{c.name}" for c in self.features]


# -- reading the definitions, or their snapshot ------------------------------------------------
#
# The definitions are Feast objects, and importing Feast takes ~5 s: too long for commands that
# only need names, types and tags (`score`, `produce update`, `--help`). So what this module
# reads from them is also kept as JSON beside them (feature_repo/contract.json), with the SHA-256
# of the definitions file it was read from. While that file is unchanged, the snapshot is used;
# once it changes, the definitions are read (with a warning) until the snapshot is refreshed.
# tests/core/test_contract_snapshot.py fails if the snapshot is not what the definitions give,
# and refreshes it on request.

SNAPSHOT_FORMAT = 1
_FEAST_KIND = {"Int64": "int64", "Float64": "float64", "String": "string"}
_FEAST_VALUE_KIND = {"INT64": "int64", "STRING": "string"}


def _definitions_path() -> Path:
    spec = importlib.util.find_spec("feature_repo")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the feature_repo package is not importable")
    return Path(next(iter(spec.submodule_search_locations))) / "definitions.py"


def snapshot_path() -> Path:
    return _definitions_path().with_name("contract.json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kind(dtype: object) -> Kind:
    try:
        return _FEAST_KIND[str(dtype)]  # type: ignore[return-value]
    except KeyError:
        raise TypeError(f"feature dtype {dtype!r} has no mapping in core.contract") from None


def _field_entry(field: Any) -> dict[str, Any]:
    return {
        "name": field.name,
        "kind": _kind(field.dtype),
        "description": field.description,
        "tags": dict(field.tags),
    }


def _view_entry(view: FeatureView) -> dict[str, Any]:
    from feast import PushSource

    push = view.stream_source
    if not isinstance(push, PushSource) or push.batch_source is None:
        raise TypeError(f"feature view {view.name!r} is not fed by a push source with a table")
    return {
        "name": view.name,
        "entity": view.entities[0],
        "features": [_field_entry(f) for f in view.features],
        "table": str(push.batch_source.get_table_query_string()),
        "push_source": push.name,
        "ttl_seconds": view.ttl.total_seconds() if view.ttl else None,
        "tags": dict(view.tags),
    }


def read_definitions() -> dict[str, Any]:
    """What the contract takes from the Feast definitions, as JSON data (imports Feast)."""
    from feast import Entity, FeatureService, FeatureView, RequestSource

    from feature_repo import definitions as defs

    objects = list(vars(defs).values())
    entities = [o for o in objects if isinstance(o, Entity)]
    views = [o for o in objects if isinstance(o, FeatureView)]
    (requests,) = [o for o in objects if isinstance(o, RequestSource)]
    (service,) = [o for o in objects if isinstance(o, FeatureService)]
    return {
        "format": SNAPSHOT_FORMAT,
        "definitions_sha256": _sha256(_definitions_path()),
        "entities": [
            {
                "name": e.name,
                "join_key": e.join_key,
                "kind": _FEAST_VALUE_KIND[e.value_type.name],
                "description": e.description,
                "tags": dict(e.tags),
            }
            for e in entities
        ],
        "views": [_view_entry(v) for v in views],
        "loan_request": {
            "fields": [_field_entry(f) for f in requests.schema],
            "tags": dict(requests.tags),
        },
        "scoring_service": {
            "name": service.name,
            "feature_refs": [
                f"{proj.name_to_use()}:{feature.name}"  # type: ignore[no-untyped-call]
                for proj in service.feature_view_projections
                for feature in proj.features
            ],
        },
    }


def load_definitions(snapshot: Path, definitions: Path) -> dict[str, Any]:
    """The snapshot if it was read from `definitions` as they are now; else the definitions,
    read afresh (imports Feast), with a warning that says how to refresh the snapshot."""
    try:
        data: dict[str, Any] = json.loads(snapshot.read_text())
        fresh = data.get("definitions_sha256") == _sha256(definitions)
        if fresh and data.get("format") == SNAPSHOT_FORMAT:
            return data
        problem = f"{definitions.name} changed since {snapshot.name} was written"
    except (OSError, ValueError) as exc:
        problem = f"{snapshot} is unreadable ({type(exc).__name__})"
    log.warning(
        "feature contract: %s, so the Feast definitions are read (slower); refresh it with "
        "`REGENERATE_DOCS=1 python -m pytest tests/core/test_contract_snapshot.py`",
        problem,
    )
    return read_definitions()


def _definition(kind: type[_Definition], name: str) -> _Definition:
    from feature_repo import definitions as defs

    for value in vars(defs).values():
        if isinstance(value, kind) and getattr(value, "name", None) == name:
            return value
    raise LookupError(f"no {kind.__name__} named {name!r} in the feature definitions")


def _column(entry: Mapping[str, Any]) -> Column:
    tags = entry["tags"]
    enum = tags.get(ENUM_TAG)
    values = tuple(v.strip() for v in enum.split(",")) if enum else None
    kind: Kind = entry["kind"]
    number = int if kind == "int64" else float
    bounds = tuple((meta, number(tags[tag])) for tag, meta in BOUND_TAGS.items() if tag in tags)
    risk = tags.get(RISK_TAG)
    if risk is not None and risk not in RISK_DIRECTIONS:
        raise ValueError(
            f"{entry['name']}: risk tag {risk!r} is not one of {list(RISK_DIRECTIONS)}"
        )
    return Column(
        entry["name"],
        kind,
        values,
        bounds,
        entry["description"],
        tags.get(AT_MOST_TAG),
        RISK_DIRECTIONS.get(risk or "", 0),
        tags.get(REASON_TAG),
    )


_DATA = load_definitions(snapshot_path(), _definitions_path())

ENTITY_KEYS: dict[str, EntityKey] = {
    e["name"]: EntityKey(e["join_key"], e["kind"], dict(e["tags"]), e["description"])
    for e in _DATA["entities"]
}
VIEWS_BY_NAME: dict[str, ViewContract] = {
    v["name"]: ViewContract(
        name=v["name"],
        entity_key=ENTITY_KEYS[v["entity"]],
        features=tuple(_column(f) for f in v["features"]),
        table=v["table"],
        push_source_name=v["push_source"],
        ttl=None if v["ttl_seconds"] is None else timedelta(seconds=v["ttl_seconds"]),
        tags=tuple(sorted(v["tags"].items())),
    )
    for v in _DATA["views"]
}
CREDIT_HISTORY = VIEWS_BY_NAME["credit_history"]
ZIPCODE_FEATURES = VIEWS_BY_NAME["zipcode_features"]
VIEWS: tuple[ViewContract, ...] = (CREDIT_HISTORY, ZIPCODE_FEATURES)

LOAN_TABLE = "loans"
LOAN_REQUEST_COLUMNS: tuple[Column, ...] = tuple(
    _column(f) for f in _DATA["loan_request"]["fields"]
)
# The loan table: the application's id, the entity keys, the application, its label (1 =
# defaulted). The id and label are named by the tags of the loan_application source.
LOAN_ID: str = _DATA["loan_request"]["tags"][ID_COLUMN_TAG]
LABEL: str = _DATA["loan_request"]["tags"][LABEL_COLUMN_TAG]
LOAN_COLUMNS: tuple[Column, ...] = (
    Column(LOAN_ID, "int64"),
    CREDIT_HISTORY.entity,
    ZIPCODE_FEATURES.entity,
    *LOAN_REQUEST_COLUMNS,
    Column(LABEL, "int64"),
)
LOAN_REQUEST_ENUMS: dict[str, tuple[str, ...]] = {
    c.name: c.values for c in LOAN_REQUEST_COLUMNS if c.values is not None
}
SCORING_SERVICE_NAME: str = _DATA["scoring_service"]["name"]


def scoring_feature_refs() -> list[str]:
    """`view:feature` references of the scoring service, in the order the service lists them."""
    return list(_DATA["scoring_service"]["feature_refs"])


def scoring_service() -> FeatureService:
    """The Feast FeatureService the model is trained and served with (imports Feast)."""
    from feast import FeatureService

    return _definition(FeatureService, SCORING_SERVICE_NAME)


def feast_objects() -> list[Any]:
    """Every Feast object `init` applies: all the definitions (imports Feast)."""
    from feast import Entity, FeatureService, FeatureView, PushSource, RequestSource
    from feast.data_source import DataSource

    from feature_repo import definitions as defs

    kinds = (Entity, FeatureView, FeatureService, PushSource, RequestSource, DataSource)
    return [value for value in vars(defs).values() if isinstance(value, kinds)]
