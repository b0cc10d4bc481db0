"""GET /metrics: the API's Prometheus metrics (scoring_api/service/metrics.py), for a key with
the `metrics` scope."""

from __future__ import annotations

from fastapi import APIRouter, Request, Security
from fastapi.responses import Response

from scoring_api.core.auth import current_caller
from scoring_api.schemas import AUTH_ERRORS
from scoring_api.service.metrics import CONTENT_TYPE, ApiMetrics

router = APIRouter(tags=["metrics"])

DESCRIPTION = """
The API's series in the Prometheus text format (0.0.4): loan decisions answered by outcome,
the decision log's records (delivered, refused, failed) and backlog, and whether each store is
reachable (`credit_api_store_up{store="decision_log"|"key_store"|"online_store"}`). Under
`serve --workers N` a scrape reaches one worker and answers for all of them: counters summed,
`credit_api_store_up` the lowest of the live workers. Needs the `metrics` scope.
"""


@router.get(
    "/metrics",
    # The plain Response: the 200 is documented as text below, the errors stay JSON.
    response_class=Response,
    summary="Prometheus metrics",
    description=DESCRIPTION,
    responses={
        200: {
            "description": "The metrics, in the Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **AUTH_ERRORS,
    },
    dependencies=[Security(current_caller, scopes=["metrics"])],
)
async def metrics(request: Request) -> Response:
    api_metrics: ApiMetrics = request.app.state.metrics
    return Response(api_metrics.exposition(), media_type=CONTENT_TYPE)
