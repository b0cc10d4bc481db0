"""Dependencies of the routes: the process's runtime and this request's id.

Both are `async def`: FastAPI runs a plain `def` dependency in anyio's thread pool, a thread
hand-off per dependency per request for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from scoring_api.core.request_id import request_id
from scoring_api.service.runtime import ApiRuntime


async def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


async def get_request_id(request: Request) -> str:
    return request_id(request)


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
