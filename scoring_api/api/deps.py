"""Dependencies of the routes: the process's runtime and this request's id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from scoring_api.core.request_id import request_id
from scoring_api.service.runtime import ApiRuntime


def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]
RequestIdDep = Annotated[str, Depends(request_id)]
