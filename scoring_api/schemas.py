"""Request and response bodies. The loan request is derived from the Feast contract.

`LoanApplication` has one field per entity key (validated by `core.contract`'s key
rules, which never echo a sensitive value) and one per field of the `loan_application`
RequestSource, with the API's plausibility rules from `REQUEST_RULES`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS, Column, EntityKey

HOME_OWNERSHIP = ("RENT", "OWN", "MORTGAGE", "OTHER")
LOAN_INTENTS = (
    "PERSONAL",
    "EDUCATION",
    "MEDICAL",
    "VENTURE",
    "HOMEIMPROVEMENT",
    "DEBTCONSOLIDATION",
)

# The API's plausibility rules per loan-application field (the contract gives names and types).
# Floats may be null: the tutorial's data has unknown employment lengths and rates, and the
# model treats a missing value as it learned to.
REQUEST_RULES: dict[str, dict[str, Any]] = {
    "person_age": {"ge": 18, "le": 120, "description": "Age in whole years"},
    "person_income": {"ge": 0, "le": 100_000_000, "description": "Yearly income in USD"},
    "person_home_ownership": {"values": HOME_OWNERSHIP, "description": "Housing situation"},
    "person_emp_length": {"ge": 0, "le": 80, "description": "Years in employment (null: unknown)"},
    "loan_intent": {"values": LOAN_INTENTS, "description": "Purpose of the loan"},
    "loan_amnt": {"gt": 0, "le": 10_000_000, "description": "Amount requested in USD"},
    "loan_int_rate": {"ge": 0, "le": 100, "description": "Interest rate in % (null: unknown)"},
}

_missing_rules = {c.name for c in LOAN_REQUEST_COLUMNS} ^ set(REQUEST_RULES)
if _missing_rules:
    raise ImportError(
        f"scoring_api.schemas.REQUEST_RULES and the contract's loan_application differ in "
        f"{sorted(_missing_rules)}: give every request field a rule"
    )

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


def _not_bool(value: Any) -> Any:
    # Lax number parsing would take `true` as 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _entity_field(key: EntityKey) -> tuple[Any, Any]:
    tags = key.tags
    options: dict[str, Any] = {}
    if "pattern" in tags:  # documented; the contract's parse() validates (without echoing)
        options["json_schema_extra"] = {"pattern": tags["pattern"]}
    if key.sensitive:
        options["description"] = "Sensitive: never logged or echoed in clear"
    if key.kind == "int64":
        if "minimum" in tags:
            options["ge"] = int(tags["minimum"])
        if "maximum" in tags:
            options["le"] = int(tags["maximum"])
        base: Any = Annotated[int, BeforeValidator(_not_bool), AfterValidator(key.parse)]
    else:
        base = Annotated[str, AfterValidator(key.parse)]
    return base, Field(..., **options)


def _request_field(column: Column) -> tuple[Any, Any]:
    rule = dict(REQUEST_RULES[column.name])
    description = rule.pop("description", None)
    if column.kind == "string":
        values = rule.pop("values")
        return Literal[values], Field(..., description=description)
    if column.kind == "int64":
        return Annotated[int, BeforeValidator(_not_bool)], Field(
            ..., description=description, **rule
        )
    kind = Annotated[float | None, BeforeValidator(_not_bool)]
    return kind, Field(None, description=description, allow_inf_nan=False, **rule)


_FIELDS: dict[str, Any] = {
    **{key.name: _entity_field(key) for key in ENTITY_KEYS.values()},
    **{column.name: _request_field(column) for column in LOAN_REQUEST_COLUMNS},
}
LoanApplication: type[BaseModel] = create_model(
    "LoanApplication",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_REQUEST]}),
    __doc__="One loan application: the applicant's keys and the application's fields.",
    **_FIELDS,
)


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
    values: dict[str, int | float | str | None]


class LoanDecision(BaseModel):
    """The decision on one loan application."""

    request_id: str
    decision: Literal["approved", "rejected"]
    probability_of_default: float = Field(ge=0, le=1)
    decision_threshold: float = Field(description="Rejected when probability_of_default >= this")
    model_version: str
    features: dict[str, ViewFeatures] = Field(description="Per feature view, as read online")
    warnings: list[str] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """What went wrong; `details` lists per-field or per-view problems."""

    code: str = Field(examples=["validation_error"])
    message: str
    request_id: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    error: ErrorBody


class Liveness(BaseModel):
    status: Literal["alive"] = "alive"


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]
