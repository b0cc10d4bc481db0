"""What the rest of the project derives from the Feast definitions.

Column lists, SQL types, event fields, enum values, the loan table's id and label: read here,
never typed again elsewhere. Entity keys carry their msgspec type and format rules here; the
types of columns and the wording of problems are in core.validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

import msgspec
from feast import FeatureService, FeatureView, Field, PushSource, ValueType
from feast.types import Float64, Int64, String

from core.validation import INT64_RANGE, field_problem
from feature_repo import definitions as defs

Kind = Literal["int64", "float64", "string"]

_KIND_OF_DTYPE = {Int64: "int64", Float64: "float64", String: "string"}
_KIND_OF_VALUE_TYPE = {ValueType.INT64: "int64", ValueType.STRING: "string"}
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

    @property
    def sql_type(self) -> str:
        return SQL_TYPE[self.kind]


def _column(field: Field) -> Column:
    enum = field.tags.get(ENUM_TAG)
    values = tuple(v.strip() for v in enum.split(",")) if enum else None
    kind = _kind(field.dtype)
    number = int if kind == "int64" else float
    bounds = tuple(
        (meta, number(field.tags[tag])) for tag, meta in BOUND_TAGS.items() if tag in field.tags
    )
    return Column(field.name, kind, values, bounds, field.description, field.tags.get(AT_MOST_TAG))


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
            return Annotated[str, msgspec.Meta(pattern=self.tags.get("pattern"), description=text)]
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
        """A form of `value` safe for logs and error messages."""
        text = str(value)
        if not self.sensitive:
            return text
        return "*" * max(len(text) - 2, 0) + text[-2:] if len(text) > 4 else "****"

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
        return tuple(_column(f) for f in self.view.features)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @cached_property
    def serving_max_age(self) -> timedelta | None:
        """How old an online row the API may use (None: any age); its tag, else the TTL."""
        tag = self.view.tags.get(SERVING_MAX_AGE_TAG)
        if tag is None:
            return self.view.ttl or None  # a TTL of 0 means none, as in Feast
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
    e.name: EntityKey(
        e.join_key,
        _KIND_OF_VALUE_TYPE[e.value_type],  # type: ignore[arg-type]
        dict(e.tags),
        e.description,
    )
    for e in ENTITIES
}
CREDIT_HISTORY = ViewContract(defs.credit_history, defs.credit_history_push)
ZIPCODE_FEATURES = ViewContract(defs.zipcode_features, defs.zipcode_features_push)
VIEWS: tuple[ViewContract, ...] = (CREDIT_HISTORY, ZIPCODE_FEATURES)
VIEWS_BY_NAME = {v.name: v for v in VIEWS}
SCORING_SERVICE: FeatureService = defs.credit_scoring_v1

LOAN_TABLE = "loans"
LOAN_REQUEST_COLUMNS: tuple[Column, ...] = tuple(_column(f) for f in defs.loan_application.schema)
# The loan table: the application's id, the entity keys, the application, its label (1 =
# defaulted). The id and label are named by the tags of the loan_application source.
LOAN_ID: str = defs.loan_application.tags[ID_COLUMN_TAG]
LABEL: str = defs.loan_application.tags[LABEL_COLUMN_TAG]
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
