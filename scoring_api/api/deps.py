"""Dependencies of the routes: the process's runtime and this request's id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from scoring_api.core.request_id import request_id
from scoring_api.service.runtime import ApiRuntime
from scoring_api.service.scoring import LoanScorer


def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


def get_scorer(request: Request) -> LoanScorer:
    return get_runtime(request).scorer


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]
ScorerDep = Annotated[LoanScorer, Depends(get_scorer)]
RequestIdDep = Annotated[str, Depends(request_id)]
