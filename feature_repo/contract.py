"""What the rest of the project derives from the Feast definitions.

Column lists, SQL types, event fields: read here, never typed again elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

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


def _kind(dtype: object) -> Kind:
    try:
        return _KIND_OF_DTYPE[dtype]  # type: ignore[index,return-value]
    except KeyError:
        raise TypeError(f"feature dtype {dtype!r} has no mapping in feature_repo.contract") from None


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
        (entity_name,) = self.view.entities
        entity = next(e for e in ENTITIES if e.name == entity_name)
        return Column(entity.join_key, _KIND_OF_VALUE_TYPE[entity.value_type])  # type: ignore[arg-type]

    @cached_property
    def features(self) -> tuple[Column, ...]:
        return tuple(Column(f.name, _kind(f.dtype)) for f in self.view.features)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @property
    def table(self) -> str:
        """Offline table (unqualified; the schema comes from settings)."""
        return self.push_source.batch_source.get_table_query_string()

    @property
    def row_columns(self) -> tuple[Column, ...]:
        """Entity key then features: the full row of an update event."""
        return (self.entity, *self.features)

    def feature_refs(self) -> list[str]:
        return [f"{self.name}:{c.name}" for c in self.features]


ENTITIES = (defs.dob_ssn, defs.zipcode)
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
        f"{proj.name_to_use()}:{feature.name}"
        for proj in SCORING_SERVICE.feature_view_projections
        for feature in proj.features
    ]
