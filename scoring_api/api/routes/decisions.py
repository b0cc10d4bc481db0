"""GET /live/decisions: the newest entries of the decision log, for the live page's panel."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import psycopg2
from fastapi import APIRouter, Query, Security

from core.contract import ENTITY_KEYS
from core.decision_log import DecisionLogStore, LoggedDecision
from scoring_api.api.deps import RuntimeDep
from scoring_api.core.auth import Caller, current_caller
from scoring_api.core.errors import ApiError
from scoring_api.schemas import AUTH_ERRORS, ErrorResponse, RecentDecision, RecentDecisions

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

READ_TIMEOUT_S = 3.0


class DecisionLogUnreadable(ApiError):
    status_code = 503
    code = "decision_log_unreadable"


@router.get(
    "/live/decisions",
    response_model=RecentDecisions,
    summary="The newest logged decisions (the live page's panel)",
    responses={
        **AUTH_ERRORS,
        422: {"model": ErrorResponse, "description": "`validation_error`: `limit` not in 1-100"},
        503: {"model": ErrorResponse, "description": "`decision_log_unreadable`: Postgres"},
    },
)
async def recent_decisions(
    runtime: RuntimeDep,
    caller: Annotated[Caller, Security(current_caller, scopes=["live"])],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RecentDecisions:
    """Needs the `live` scope; the reasons' phrases also `features:read`. Applicant keys are
    masked whatever the scopes. A decision appears once the stream processor has appended it
    (usually well under a second after its answer)."""
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            rows = await asyncio.to_thread(_newest, runtime.config.settings, limit)
    except (TimeoutError, psycopg2.Error) as exc:
        log.warning("decision log unreadable: %s", type(exc).__name__)
        raise DecisionLogUnreadable(
            f"the decision log cannot be read now ({type(exc).__name__}); retry shortly"
        ) from None
    with_reasons = caller.allows("features:read")
    return RecentDecisions(decisions=[_entry(row, with_reasons) for row in rows])


def _newest(settings: Any, limit: int) -> list[LoggedDecision]:
    with DecisionLogStore(settings) as store:
        try:
            return store.select(limit=limit, newest_first=True)
        except psycopg2.errors.UndefinedTable:
            return []  # no processor has created it yet: nothing logged


def _entry(row: LoggedDecision, with_reasons: bool) -> RecentDecision:
    application = row.record["application"]
    return RecentDecision(
        request_id=row.request_id,
        decided_at=row.decided_at,
        model_version=row.model_version,
        decision=row.decision,  # "approved" | "rejected" in the log
        probability_of_default=row.p_default,
        applicant={name: key.mask(application[name]) for name, key in ENTITY_KEYS.items()},
        reasons=[r["phrase"] for r in row.record["reasons"]] if with_reasons else None,
    )
