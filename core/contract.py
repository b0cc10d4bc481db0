"""What the rest of the project derives from the Feast definitions.

Column lists, SQL types, event fields: read here, never typed again elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, Literal

from feast import FeatureService, FeatureView, PushSource, ValueType
from feast.types import Float64, Int64, String

from feature_repo import definitions as defs

Kind = Literal["int64", "float64", "string"]

_KIND_OF_DTYPE = {Int64: "int64", Float64: "float64", String: "string"}
_KIND_OF_VALUE_TYPE = {ValueType.INT64: "int64", ValueType.STRING: "string"}
SQL_TYPE: dict[str, str] = {"int64": "BIGINT", "float64": "DOUBLE PRECISION", "string": "TEXT"}

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
EVENT_ID = "event_id"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind

    @property
    def sql_type(self) -> str:
        return SQL_TYPE[self.kind]


@dataclass(frozen=True)
class EntityKey:
    """An entity's join key with the format rules its Feast tags declare."""

    name: str
    kind: Kind
    tags: dict[str, str]

    @property
    def sensitive(self) -> bool:
        return self.tags.get("sensitive") == "true"

    def mask(self, value: object) -> str:
        """A form of `value` safe for logs and error messages."""
        text = str(value)
        if not self.sensitive:
            return text
        return "*" * max(len(text) - 2, 0) + text[-2:] if len(text) > 4 else "****"

    def parse(self, value: Any) -> Any:
        """The validated key, or ValueError whose message never shows a sensitive value."""
        if self.kind == "string":
            if not isinstance(value, str):
                raise ValueError(f"{self.name} must be a string, got {type(value).__name__}")
            pattern = self.tags.get("pattern")
            if pattern and not re.fullmatch(pattern, value):
                # Not even a mask of the value: its length and last characters are data too.
                raise ValueError(f"{self.name} does not match the format {pattern}")
            if self.tags.get("starts_with_date") == "true":
                _check_birth_date(value[:8])
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{self.name} must be an integer, got {type(value).__name__}")
        lo, hi = self.tags.get("minimum"), self.tags.get("maximum")
        if (lo is not None and value < int(lo)) or (hi is not None and value > int(hi)):
            raise ValueError(f"{self.name} {value} is outside [{lo}, {hi}]")
        return value


def _check_birth_date(yyyymmdd: str) -> None:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise ValueError("dob_ssn does not start with a valid date (YYYYMMDD)") from None
    if born.year < 1900:
        raise ValueError("dob_ssn birth year is before 1900")


def _kind(dtype: object) -> Kind:
    try:
        return _KIND_OF_DTYPE[dtype]  # type: ignore[index,return-value]
    except KeyError:
        raise TypeError(f"feature dtype {dtype!r} has no mapping in core.contract") from None


@dataclass(frozen=True)
class ViewContract:
    """One feature view as the pipeline sees it: entity, features, push source, offline table."""

    view: FeatureView
    push_source: PushSource

    @property
    def name(self) -> str:
        return self.view.name

    @cached_property
    def entity(self) -> Column:
        return Column(self.entity_key.name, self.entity_key.kind)

    @cached_property
    def entity_key(self) -> EntityKey:
        (entity_name,) = self.view.entities
        return ENTITY_KEYS[entity_name]

    @cached_property
    def features(self) -> tuple[Column, ...]:
        return tuple(Column(f.name, _kind(f.dtype)) for f in self.view.features)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @property
    def table(self) -> str:
        """Offline table (unqualified; the schema comes from settings)."""
        source = self.push_source.batch_source
        if source is None:
            raise TypeError(f"push source {self.push_source.name!r} has no batch source")
        return str(source.get_table_query_string())

    @property
    def row_columns(self) -> tuple[Column, ...]:
        """Entity key then features: the full row of an update event."""
        return (self.entity, *self.features)

    def feature_refs(self) -> list[str]:
        return [f"{self.name}:{c.name}" for c in self.features]


ENTITIES = (defs.dob_ssn, defs.zipcode)
ENTITY_KEYS: dict[str, EntityKey] = {
    e.name: EntityKey(e.join_key, _KIND_OF_VALUE_TYPE[e.value_type], dict(e.tags))  # type: ignore[arg-type]
    for e in ENTITIES
}
CREDIT_HISTORY = ViewContract(defs.credit_history, defs.credit_history_push)
ZIPCODE_FEATURES = ViewContract(defs.zipcode_features, defs.zipcode_features_push)
VIEWS: tuple[ViewContract, ...] = (CREDIT_HISTORY, ZIPCODE_FEATURES)
VIEWS_BY_NAME = {v.name: v for v in VIEWS}
SCORING_SERVICE: FeatureService = defs.credit_scoring_v1

LOAN_TABLE = "loans"
LOAN_REQUEST_COLUMNS: tuple[Column, ...] = tuple(
    Column(f.name, _kind(f.dtype)) for f in defs.loan_application.schema
)
LOAN_COLUMNS: tuple[Column, ...] = (
    Column("loan_id", "int64"),
    CREDIT_HISTORY.entity,
    ZIPCODE_FEATURES.entity,
    *LOAN_REQUEST_COLUMNS,
    Column("loan_status", "int64"),
)

# Every Feast object `init` applies.
FEAST_OBJECTS = (
    *ENTITIES,
    defs.credit_history_table,
    defs.zipcode_features_table,
    defs.credit_history_push,
    defs.zipcode_features_push,
    defs.loan_application,
    defs.credit_history,
    defs.zipcode_features,
    defs.credit_scoring_v1,
)


def scoring_feature_refs() -> list[str]:
    """`view:feature` references of the scoring service, in the order the service lists them."""
    return [
        f"{proj.name_to_use()}:{feature.name}"  # type: ignore[no-untyped-call]
        for proj in SCORING_SERVICE.feature_view_projections
        for feature in proj.features
    ]
