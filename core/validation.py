"""The validation model family: msgspec types of contract columns, and problems in our words.

Events (core.events) and the API's loan request (scoring_api.schemas) are msgspec Structs whose
field types come from `value_type`. msgspec's own error messages may quote a value (an enum
value, an unknown field name), so a breach is worded by `field_problem` instead, never quoting
the value that broke it.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

if TYPE_CHECKING:
    from core.contract import Column

INT64_RANGE = (-(2**63), 2**63 - 1)
_FLOAT_MAX = sys.float_info.max

_BASE_TYPE: dict[str, type] = {"int64": int, "float64": float, "string": str}


def value_type(column: Column, **meta: Any) -> Any:
    """The msgspec type of a column's values, with extra `msgspec.Meta` arguments.

    int64: a JSON integer in the int64 range; float64: a finite number; string: a string, or
    one of the column's enum values; within the column's own bounds, with its description.
    `meta` narrows it further (ge, le, gt, lt) or documents it.
    """
    own: dict[str, Any] = dict(column.bounds)
    if column.description:
        own["description"] = column.description
    meta = {**own, **meta}
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


def type_parts(type_: Any) -> tuple[Any, msgspec.Meta | None, bool]:
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
    base, meta, nullable = type_parts(type_)
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
        if base is int and limit in INT64_RANGE:
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


# A `msgspec.Meta(extra=...)` key: the pattern the JSON Schema states, when it says more than
# the pattern validation checks (a key's date rule, checked in code with a better message).
SCHEMA_PATTERN = "schema_pattern"


def type_json_schema(type_: Any) -> dict[str, Any]:
    """The JSON Schema of one value type (`value_type`, an entity key's), with its
    SCHEMA_PATTERN when it has one."""
    schema: dict[str, Any] = msgspec.json.schema(type_)
    _, meta, _ = type_parts(type_)
    if meta is not None and meta.extra and SCHEMA_PATTERN in meta.extra:
        schema["pattern"] = meta.extra[SCHEMA_PATTERN]
    return schema


def model_json_schema(model: type[msgspec.Struct]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one flat Struct, self-contained (no $ref).

    Enum values keep the definitions' order (msgspec sorts them), and the description of a
    nullable field is the field's, not its non-null option's.
    """
    _, components = msgspec.json.schema_components([model], ref_template="#/$defs/{name}")
    schema: dict[str, Any] = components[model.__name__]
    for field in msgspec.structs.fields(model):
        prop = schema["properties"][field.encode_name]
        base, meta, nullable = type_parts(field.type)
        if get_origin(base) is Literal:
            prop["enum"] = list(get_args(base))
        if meta is not None and meta.extra and SCHEMA_PATTERN in meta.extra:
            prop["pattern"] = meta.extra[SCHEMA_PATTERN]
        if nullable and "description" in prop["anyOf"][0]:
            prop = {"description": prop["anyOf"][0].pop("description"), **prop}
            schema["properties"][field.encode_name] = prop
    return schema
