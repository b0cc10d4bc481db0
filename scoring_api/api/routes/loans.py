"""POST /v1/loan-decisions: one application in, approve or reject out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Security
from fastapi.responses import Response

from scoring_api.api.deps import RequestIdDep, RuntimeDep
from scoring_api.core.auth import Caller, current_caller
from scoring_api.schemas import (
    AUTH_ERRORS,
    BODY_ERRORS,
    EXAMPLE_REQUEST,
    DecisionReason,
    ErrorResponse,
    LoanApplication,
    LoanDecision,
    ViewFeatures,
)
from scoring_api.service.scoring import MIN_TRAINED_MISSING_RATE, Decision

router = APIRouter(prefix="/v1", tags=["loans"])

DESCRIPTION = f"""
Reads the applicant's online features (by `dob_ssn` and `zipcode`) through Feast, builds the
model's row from the same feature references the model was trained with, and decides:
**rejected** when the probability of default is at least the model's decision threshold.

**Missing features.** A feature view with no row for the key, or only a row older than the
view's TTL, counts as missing (as in the point-in-time join of training). If at least
{MIN_TRAINED_MISSING_RATE:.0%} of the training loans lacked that view, the loan is scored with
those features missing and `features.<view>.status` plus `warnings` say so (e.g. an applicant
with no credit report yet). Otherwise the answer is **422 `features_unavailable`** (e.g. an
unknown zipcode, which training never saw).

**Who may call.** A key with the `score` scope. The feature values the decision used
(`features.<view>.values`) are in the answer only for a key that also has `features:read`;
otherwise they are `null` (statuses and ages stay), and so are `reasons`.

**Reasons.** `reasons` lists up to 4 features that pushed this applicant towards default,
largest first, each with its value, its contribution to the margin (log-odds) and a phrase
from the feature contract. Contributions are path attributions over the boosted trees:
`base_margin` plus the contributions of all model columns equals `margin` exactly. The model
is monotone in the features the contract marks (missed payments, bankruptcies, amounts due,
hard pulls): more of them never lowers the probability of default.

**Decision log.** Every decision is published to the `loan-decisions` topic (the request id
is its key) and appended to Postgres by the stream processor; `credit-pipeline decisions show
REQUEST_ID` prints it. Publishing does not wait for the broker; when the broker has been away
long enough to fill this worker's buffer (CREDIT_DECISION_LOG_BUFFER), the answer is **503
`decision_log_unavailable`** and no decision is made.

Errors share one shape: `{{"error": {{"code", "message", "request_id", "details"}}}}`. A
`dob_ssn` is never echoed in clear. The request id is also in the `X-Request-ID` header.
"""

_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    **BODY_ERRORS,
    422: {
        "model": ErrorResponse,
        "description": "`validation_error` (with field-level "
        "details) or `features_unavailable` (a view the model cannot do without)",
    },
    503: {
        "model": ErrorResponse,
        "description": "`online_store_unavailable`: retry after the Retry-After seconds; "
        "`auth_unavailable`: the key cannot be checked now; `decision_log_unavailable`: the "
        "decision cannot be recorded (broker unreachable, buffer full), so none was made",
    },
    500: {"model": ErrorResponse, "description": "`internal_error`; quote the request id"},
}

_EXAMPLES = {
    "tutorial": {
        "summary": "The tutorial's applicant (plausible age and employment length)",
        "value": EXAMPLE_REQUEST,
    },
    "unknown rate": {
        "summary": "Interest rate not known yet (null)",
        "value": {**EXAMPLE_REQUEST, "loan_int_rate": None},
    },
}


def decision_body(decision: Decision, rid: str, *, with_values: bool = True) -> LoanDecision:
    """The response body of a decision; feature values only `with_values`."""
    now = decision.decided_at
    return LoanDecision(
        request_id=rid,
        decision="approved" if decision.approved else "rejected",
        probability_of_default=decision.p_default,
        decision_threshold=decision.threshold,
        model_version=decision.model_version,
        features={
            view: ViewFeatures(
                status=reading.status,
                event_timestamp=reading.event_timestamp,
                age_seconds=(now - reading.event_timestamp).total_seconds()
                if reading.event_timestamp
                else None,
                older_than_ttl=reading.older_than_ttl,
                values=reading.values if with_values else None,
            )
            for view, reading in decision.readings.items()
        },
        margin=decision.explanation.margin,
        base_margin=decision.explanation.base_margin,
        reasons=[
            DecisionReason(
                feature=r.feature,
                view=r.view,
                value=r.value,
                contribution=r.contribution,
                phrase=r.phrase,
            )
            for r in decision.explanation.reasons
        ]
        if with_values
        else None,
        warnings=decision.warnings,
    )


@router.post(
    "/loan-decisions",
    response_model=LoanDecision,
    responses=_ERRORS,
    summary="Decide on one loan application",
    description=DESCRIPTION,
)
async def decide_loan(
    application: Annotated[LoanApplication, Body(openapi_examples=_EXAMPLES)],
    runtime: RuntimeDep,
    rid: RequestIdDep,
    caller: Annotated[Caller, Security(current_caller, scopes=["score"])],
) -> Response:
    fields = application.model_dump()
    decision = await runtime.scorer.score(fields)
    # Queued, not awaited: the broker's answer comes later (scoring_api/service/
    # decision_log.py); a full buffer raises 503 and the decision is not given. With the log
    # off, the decision is only counted.
    runtime.decisions.publish(decision, fields, rid)
    body = decision_body(decision, rid, with_values=caller.allows("features:read"))
    # Serialised here by pydantic (response_model documents it; FastAPI would validate the
    # object a second time).
    return Response(body.model_dump_json(), media_type="application/json")
