"""Request and response bodies. The loan request is derived from the Feast contract.

`LoanApplication` is a msgspec Struct, of the same model family as the update events
(`core.events`): one field per entity key (format and range from the entities' tags) and one per
field of the `loan_application` RequestSource, with its enum values, bounds of plausibility and
description from the definitions. Its problems are worded by `core.validation`, never
quoting a submitted value. FastAPI and the CLI speak pydantic: `RequestModel` adapts (its
`model_*` methods and `__get_pydantic_*__` hooks), msgspec still does the validating.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Self, cast

import msgspec
from pydantic import BaseModel, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, ValidationError, core_schema

from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS, Column
from core.validation import (
    Problem,
    field_problem,
    model_json_schema,
    struct_problems,
    type_parts,
    value_type,
)

# Every loan-application field's rules, read from the contract: its bounds of plausibility
# (ge, le, gt), its description and its enum values (`values`). Floats may be null: the
# tutorial's data has unknown employment lengths and rates, and the model treats a missing value
# as it learned to. The CLI's `score` options take their help and choices from here.
REQUEST_RULES: dict[str, dict[str, Any]] = {
    c.name: {
        **dict(c.bounds),
        "description": c.description,
        **({"values": c.values} if c.values else {}),
    }
    for c in LOAN_REQUEST_COLUMNS
}

# The tutorial's request, with a plausible age and employment length (it sends 133 and 123).
EXAMPLE_REQUEST: dict[str, Any] = {
    "zipcode": 76104,
    "dob_ssn": "19630621_4278",
    "person_age": 63,
    "person_income": 59000,
    "person_home_ownership": "RENT",
    "person_emp_length": 12.0,
    "loan_intent": "PERSONAL",
    "loan_amnt": 35000,
    "loan_int_rate": 16.02,
}


class RequestInvalid(ValueError):
    """A request body that breaks its model; `problems` name each breach without its value."""

    def __init__(self, model: str, problems: list[Problem]) -> None:
        super().__init__(f"{model}: " + "; ".join(_text(p) for p in problems))
        self.model = model
        self.problems = problems

    def pydantic_error(self) -> ValidationError:
        """The same problems as pydantic line errors (FastAPI's 422 lists them per field)."""
        return ValidationError.from_exception_data(
            self.model,
            [
                {
                    "type": PydanticCustomError(p.code, p.message),
                    "loc": () if p.field is None else (p.field,),
                    "input": None,  # never the submitted value
                }
                for p in self.problems
            ],
        )


def _text(problem: Problem) -> str:
    return problem.message if problem.field is None else f"{problem.field} {problem.message}"


class RequestModel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of the API's request bodies: msgspec Structs generated from the contract.

    FastAPI validates request bodies through pydantic: `__get_pydantic_core_schema__` hands the
    body to `validate` and `__get_pydantic_json_schema__` gives msgspec's JSON Schema.
    """

    @classmethod
    def validate(cls, data: Any) -> Self:
        """The body as this model, or RequestInvalid listing every problem.

        msgspec stops at the first problem; a refused body is examined field by field so that
        the answer lists them all. Entity-key fields also get their keys' checks.
        """
        if isinstance(data, RequestModel):
            data = msgspec.structs.asdict(data)  # built by hand: check it like a body
        if isinstance(data, dict):
            data = _integral_floats_as_ints(cls, data)
        try:
            value = msgspec.convert(data, type=cls, strict=True)
        except msgspec.ValidationError:
            if not isinstance(data, dict):
                problems = [Problem(None, "model_type", "the body must be a JSON object")]
            else:
                problems = struct_problems(cls, data) + _key_problems(data)
            if not problems:  # not expected: struct_problems finds what msgspec refuses
                problems = [Problem(None, "value_error", "the body does not match the schema")]
        else:
            problems = _key_problems(msgspec.structs.asdict(value))
            if not problems:
                return value
        raise RequestInvalid(cls.__name__, problems)

    # -- what FastAPI and pydantic-speaking callers use ------------------------------------------

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """`validate`, raising pydantic's ValidationError instead."""
        try:
            return cls.validate(data)
        except RequestInvalid as exc:
            raise exc.pydantic_error() from None

    def model_dump(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        return {**model_json_schema(cls), "examples": [EXAMPLE_REQUEST]}

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.model_validate,
            ref=cls.__name__,  # one named component in the OpenAPI document
            serialization=core_schema.plain_serializer_function_ser_schema(msgspec.structs.asdict),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return cls.model_json_schema()


@cache
def _integer_fields(model: type[RequestModel]) -> frozenset[str]:
    return frozenset(
        f.encode_name for f in msgspec.structs.fields(model) if type_parts(f.type)[0] is int
    )


def _integral_floats_as_ints(model: type[RequestModel], data: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema counts 76104.0 as an integer, so the API does too; 76104.5, "76104" and
    true stay refused (msgspec's strict mode)."""
    integers = _integer_fields(model)
    fixed = None
    for name, value in data.items():
        if type(value) is float and name in integers and value.is_integer():
            fixed = fixed or dict(data)
            fixed[name] = int(value)
    return fixed or data


def _key_problems(data: dict[str, Any]) -> list[Problem]:
    """What the entity keys' types cannot say (a valid birth date), for well-typed keys."""
    problems = []
    for name, key in ENTITY_KEYS.items():
        if name in data and field_problem(name, key.value_type, data[name]) is None:
            try:
                key.check(data[name])
            except ValueError as exc:  # worded without the value
                message = str(exc).removeprefix(f"{name} ")
                problems.append(Problem(name, "value_error", message))
    return problems


def _request_field(column: Column) -> tuple[str, Any] | tuple[str, Any, Any]:
    if column.kind == "float64":
        return column.name, value_type(column) | None, None
    return column.name, value_type(column)


def _loan_application() -> type[RequestModel]:
    model = msgspec.defstruct(
        "LoanApplication",
        [
            *((key.name, key.value_type) for key in ENTITY_KEYS.values()),
            *(_request_field(column) for column in LOAN_REQUEST_COLUMNS),
        ],
        bases=(RequestModel,),
        kw_only=True,
        forbid_unknown_fields=True,
        module=__name__,
        namespace={
            "__doc__": "One loan application: the applicant's keys and the application's fields."
        },
    )
    return cast(type[RequestModel], model)


if TYPE_CHECKING:
    # Its fields are generated from the contract; to a type checker it is a request model.
    LoanApplication = RequestModel
else:
    LoanApplication = _loan_application()


class FeatureStatus(StrEnum):
    """How a feature view's values were found in the online store."""

    PRESENT = "present"
    MISSING = "missing"  # no row for the entity
    STALE = "stale"  # a row older than the view's TTL: used as missing, like in training


class ViewFeatures(BaseModel):
    """The values the model used from one feature view, and how old they are."""

    status: FeatureStatus
    event_timestamp: datetime | None = Field(description="When the values were true (UTC)")
    age_seconds: float | None = Field(description="Seconds from event_timestamp to the decision")
    older_than_ttl: bool = Field(
        default=False,
        description="Used although older than the view's TTL (the window of training), as the "
        "view's serving_max_age allows; a warning says so",
    )
    values: dict[str, int | float | str | None] | None = Field(
        description="The feature values; null unless the caller's key has `features:read`"
    )


class DecisionReason(BaseModel):
    """A feature that pushed this applicant towards default."""

    feature: str = Field(examples=["missed_payments_6m"])
    view: str | None = Field(description="Its feature view; null for a field of the request")
    value: int | float | str | None
    contribution: float = Field(
        description="Log-odds it added to the margin (positive: towards default)"
    )
    phrase: str = Field(examples=["6 missed payments in the last 6 months"])


class LoanDecision(BaseModel):
    """The decision on one loan application."""

    request_id: str
    decision: Literal["approved", "rejected"]
    probability_of_default: float = Field(ge=0, le=1)
    decision_threshold: float = Field(description="Rejected when probability_of_default >= this")
    model_version: str
    features: dict[str, ViewFeatures] = Field(description="Per feature view, as read online")
    margin: float = Field(description="log(p / (1 - p)) of probability_of_default")
    base_margin: float = Field(
        description="Where every explanation starts: base_margin plus the contributions of "
        "all model columns is margin"
    )
    reasons: list[DecisionReason] | None = Field(
        description="Up to 4 features that pushed towards default, largest first; null "
        "unless the caller's key has `features:read`"
    )
    warnings: list[str] = Field(default_factory=list)


class RecentDecision(BaseModel):
    """One decision of the decision log, as the live page lists it (keys masked)."""

    request_id: str
    decided_at: datetime
    model_version: str
    decision: Literal["approved", "rejected"]
    probability_of_default: float
    applicant: dict[str, str] = Field(description="Entity keys, sensitive ones masked")
    reasons: list[str] | None = Field(
        description="Phrases of the principal reasons; null without the `features:read` scope"
    )


class RecentDecisions(BaseModel):
    decisions: list[RecentDecision] = Field(description="Newest first")


class ErrorBody(BaseModel):
    """What went wrong; `details` lists per-field or per-view problems."""

    code: str = Field(examples=["validation_error"])
    message: str
    request_id: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    error: ErrorBody


# The answers of every endpoint that needs a key, for its OpenAPI `responses`.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorResponse,
        "description": "`unauthenticated`: no API key or session, or one not valid (any more)",
    },
    403: {"model": ErrorResponse, "description": "`insufficient_scope`: the key lacks a scope"},
    503: {
        "model": ErrorResponse,
        "description": "`auth_unavailable`: a credential cannot be checked now (key store "
        "down), or the endpoint's own dependency is unavailable",
    },
}


# The answers of every endpoint that reads a body (the guard and the JSON decoder give them).
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "`bad_request`: the body is not UTF-8 JSON; `invalid_host`: the Host "
        "is not in CREDIT_API_TRUSTED_HOSTS",
    },
    413: {"model": ErrorResponse, "description": "`payload_too_large`: the body is too big"},
    415: {"model": ErrorResponse, "description": "`unsupported_media_type`: the body is not JSON"},
}


class Liveness(BaseModel):
    status: Literal["alive"] = "alive"


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]
