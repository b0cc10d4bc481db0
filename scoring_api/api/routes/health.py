"""Liveness (the process answers) and readiness (model loaded, online store reachable)."""

from __future__ import annotations

from fastapi import APIRouter

from scoring_api.api.deps import RuntimeDep
from scoring_api.core.errors import NotReady
from scoring_api.schemas import Check, ErrorResponse, Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Liveness, summary="Liveness")
async def healthz() -> Liveness:
    return Liveness()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    responses={503: {"model": ErrorResponse, "description": "A dependency is not usable now"}},
)
async def readyz(runtime: RuntimeDep) -> Readiness:
    """Ready when the model is loaded (always, once started), Redis answers a PING and a
    decision can be recorded (the decision log's buffer has room)."""
    redis_ok, redis_detail = await runtime.online_store_check()
    log_ok, log_detail = runtime.decision_log_check()
    checks = {
        "model": Check(ok=True, detail=f"version {runtime.model.version}"),
        "online_store": Check(ok=redis_ok, detail=redis_detail),
        "decision_log": Check(ok=log_ok, detail=log_detail),
    }
    if not (redis_ok and log_ok):
        failing = "online store" if not redis_ok else "decision log"
        raise NotReady(
            f"{failing} {redis_detail if not redis_ok else log_detail}",
            details=[{"check": name, **check.model_dump()} for name, check in checks.items()],
        )
    return Readiness(status="ready", checks=checks)
