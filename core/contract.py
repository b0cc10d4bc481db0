"""What the rest of the project derives from the Feast definitions.

Column lists, SQL types, event fields, enum values, the loan table's id and label: read here,
never typed again elsewhere. The validation model family is derived here too: msgspec types of
columns and entity keys (events and the API's request are Structs of these types), and
`field_problem`, which words a value's breach of its type without ever quoting the value.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
from feast import FeatureService, FeatureView, Field, PushSource, ValueType
from feast.types import Float64, Int64, String

from feature_repo import definitions as defs

Kind = Literal["int64", "float64", "string"]

_KIND_OF_DTYPE = {Int64: "int64", Float64: "float64", String: "string"}
_KIND_OF_VALUE_TYPE = {ValueType.INT64: "int64", ValueType.STRING: "string"}
SQL_TYPE: dict[str, str] = {"int64": "BIGINT", "float64": "DOUBLE PRECISION", "string": "TEXT"}

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"
EVENT_ID = "event_id"
INT64_RANGE = (-(2**63), 2**63 - 1)
_FLOAT_MAX = sys.float_info.max
# Tags of the definitions that core.contract reads (feature_repo/definitions.py documents them).
ENUM_TAG = "enum"
ID_COLUMN_TAG = "id_column"
LABEL_COLUMN_TAG = "label_column"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    # The only values of a string column, in the definitions' order (its "enum" tag).
    values: tuple[str, ...] | None = None

    @property
    def sql_type(self) -> str:
        return SQL_TYPE[self.kind]


def _column(field: Field) -> Column:
    enum = field.tags.get(ENUM_TAG)
    values = tuple(v.strip() for v in enum.split(",")) if enum else None
    return Column(field.name, _kind(field.dtype), values)


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


# -- The validation model family (msgspec) -----------------------------------------------------
# Events (core.events) and the API's loan request (scoring_api.schemas) are msgspec Structs
# whose field types come from here. msgspec's own error messages may quote a value (an enum
# value, an unknown field name), so reasons are worded by `field_problem` instead.

_BASE_TYPE: dict[str, type] = {"int64": int, "float64": float, "string": str}


def value_type(column: Column, **meta: Any) -> Any:
    """The msgspec type of a column's values, with extra `msgspec.Meta` arguments.

    int64: a JSON integer in the int64 range; float64: a finite number; string: a string, or
    one of the column's enum values. `meta` narrows it (ge, le, gt, lt) or documents it.
    """
    if column.values is not None:
        # Literal[...] of the values; the schema keeps the definitions' order (msgspec sorts).
        enum: Any = Literal.__getitem__(column.values)
        return Annotated[enum, msgspec.Meta(extra_json_schema={"type": "string"}, **meta)]
    # Bounds of the kind on the sides `meta` leaves open (a float's: finite, no inf or nan).
    low, high = INT64_RANGE if column.kind == "int64" else (-_FLOAT_MAX, _FLOAT_MAX)
    if column.kind != "string" and not {"ge", "gt"} & set(meta):
        meta = {"ge": low, **meta}
    if column.kind != "string" and not {"le", "lt"} & set(meta):
        meta = {"le": high, **meta}
    base = _BASE_TYPE[column.kind]
    return Annotated[base, msgspec.Meta(**meta)] if meta else base


@dataclass(frozen=True)
class Problem:
    """One breach of a model, worded without the value that broke it."""

    field: str | None  # None: the whole document, or fields whose names are not shown
    code: str  # stable, as pydantic names them: int_type, missing, greater_than_equal, ...
    message: str  # without the field's name, e.g. "must be an integer, got str"


_GOT = re.compile(r"^Expected `[^`]*`, got `(\w+)`")
_BOUND = re.compile(r"^Expected `\w+` (>=|>|<=|<) ")
# The kinds msgspec reports a wrong value as: type names, never the value.
_JSON_KINDS = {"str", "int", "float", "bool", "null", "array", "object"}
_BOUND_WORDS = {
    ">=": ("ge", "greater_than_equal", "must be at least {}"),
    ">": ("gt", "greater_than", "must be greater than {}"),
    "<=": ("le", "less_than_equal", "must be at most {}"),
    "<": ("lt", "less_than", "must be less than {}"),
}


def _parts(type_: Any) -> tuple[Any, msgspec.Meta | None, bool]:
    """(base type, its Meta, nullable) of `base`, `Annotated[base, Meta]`, or either | None."""
    nullable = False
    if get_origin(type_) in (Union, types.UnionType):
        options = [a for a in get_args(type_) if a is not type(None)]
        nullable = len(options) < len(get_args(type_))
        type_ = options[0]
    meta = None
    if get_origin(type_) is Annotated:
        type_, *extras = get_args(type_)
        meta = next((m for m in extras if isinstance(m, msgspec.Meta)), None)
    return type_, meta, nullable


def _expected(base: Any, nullable: bool) -> tuple[str, str]:
    """(what a value must be, in words; the pydantic-style code of a wrong type)."""
    if get_origin(base) is Literal:
        words, code = "one of " + ", ".join(map(str, get_args(base))), "literal_error"
    elif base is int:
        words, code = "an integer", "int_type"
    elif base is float:
        words, code = "a number", "float_type"
    elif base is str:
        words, code = "a string", "string_type"
    else:
        words, code = f"a {getattr(base, '__name__', 'value of its type')}", "type_error"
    return (f"{words} or null" if nullable else words), code


def field_problem(name: str | None, type_: Any, value: Any) -> Problem | None:
    """Whether `value` (as decoded from JSON) is of `type_`; the problem, in our own words."""
    try:
        msgspec.convert(value, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        return _problem(name, type_, str(exc))
    return None


def _problem(name: str | None, type_: Any, error: str) -> Problem:
    base, meta, nullable = _parts(type_)
    expected, type_code = _expected(base, nullable)
    if got := _GOT.match(error):
        kind = got.group(1) if got.group(1) in _JSON_KINDS else "another type"
        return Problem(name, type_code, f"must be {expected}, got {kind}")
    if error.startswith("Invalid enum value"):
        return Problem(name, "literal_error", f"must be {expected}")
    if (bound := _BOUND.match(error)) and meta is not None:
        # The side of the broken bound, as the type declares it (msgspec reports an integer's
        # `gt=0` as `>= 1`).
        low = bound.group(1).startswith(">")
        op = (
            (">=" if meta.ge is not None else ">")
            if low
            else ("<=" if meta.le is not None else "<")
        )
        attr, code, words = _BOUND_WORDS[op]
        limit = getattr(meta, attr)
        if (meta.ge, meta.le) == INT64_RANGE:
            return Problem(name, code, "is outside the int64 range")
        if base is float and abs(limit) == _FLOAT_MAX:
            return Problem(name, "finite_number", "must be a finite number")
        return Problem(name, code, words.format(limit))
    if "of length" in error and meta is not None:
        if error.startswith("Expected `str` of length >="):
            return Problem(
                name, "string_too_short", f"must have at least {meta.min_length} characters"
            )
        return Problem(name, "string_too_long", f"must have at most {meta.max_length} characters")
    if "matching regex" in error and meta is not None:
        return Problem(name, "string_pattern_mismatch", f"does not match the format {meta.pattern}")
    if error.startswith("Number out of range"):
        return Problem(name, "number_out_of_range", "is a number out of range")
    return Problem(name, "value_error", f"is not valid (must be {expected})")


# A field name is shown in a problem only when it looks like a name, not like data: an
# identifier without a run of 3+ digits (a dob_ssn, a zipcode or a date sent as a key is not).
_SHOWABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_DIGIT_RUN = re.compile(r"[0-9]{3}")


def showable_name(name: str) -> bool:
    """Whether an unknown field name may be quoted in a reason (it does not look like data)."""
    return bool(_SHOWABLE_NAME.fullmatch(name)) and not _DIGIT_RUN.search(name)


def struct_problems(model: type[msgspec.Struct], doc: Mapping[str, Any]) -> list[Problem]:
    """Every breach of `model` by a decoded JSON object: missing and unknown fields (names that
    look like data only counted), then each field's type, in the model's order."""
    fields = msgspec.structs.fields(model)
    known = {f.encode_name for f in fields}
    problems = [Problem(f.encode_name, "missing", "is missing") for f in fields if f.required]
    problems = [p for p in problems if p.field not in doc]
    unknown = [name for name in doc if name not in known]
    problems += [
        Problem(n, "extra_forbidden", "is not a known field") for n in unknown if showable_name(n)
    ]
    hidden = sum(not showable_name(n) for n in unknown)
    if hidden:
        problems.append(
            Problem(
                None,
                "extra_forbidden",
                f"{hidden} unknown field(s) not shown (their names look like data)",
            )
        )
    for f in fields:
        if f.encode_name in doc:
            problem = field_problem(f.encode_name, f.type, doc[f.encode_name])
            if problem is not None:
                problems.append(problem)
    return problems


def model_json_schema(model: type[msgspec.Struct]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one flat Struct, self-contained (no $ref).

    Enum values keep the definitions' order (msgspec sorts them), and the description of a
    nullable field is the field's, not its non-null option's.
    """
    _, components = msgspec.json.schema_components([model], ref_template="#/$defs/{name}")
    schema: dict[str, Any] = components[model.__name__]
    for field in msgspec.structs.fields(model):
        prop = schema["properties"][field.encode_name]
        base, _, nullable = _parts(field.type)
        if get_origin(base) is Literal:
            prop["enum"] = list(get_args(base))
        if nullable and "description" in prop["anyOf"][0]:
            prop = {"description": prop["anyOf"][0].pop("description"), **prop}
            schema["properties"][field.encode_name] = prop
    return schema
