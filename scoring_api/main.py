"""The FastAPI app: `create_app()` wires routes, errors, the app's metrics and the lifespan
that builds the model, the Feast store and the Redis client once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Security

from core.api_keys import KeyStore
from core.settings import Settings
from scoring_api.api.routes import decisions, docs, health, live, loans, metrics, session
from scoring_api.core.auth import Authenticator, current_caller
from scoring_api.core.config import ApiConfig
from scoring_api.core.errors import install_error_handlers
from scoring_api.core.guard import GuardMiddleware
from scoring_api.core.request_id import RequestIdMiddleware
from scoring_api.schemas import ErrorResponse
from scoring_api.service.metrics import ApiMetrics
from scoring_api.service.runtime import ApiRuntime

TITLE = "Credit scoring API"
SUMMARY = "Loan decisions from online features (Feast, Redis) and a versioned model"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        runtime = await ApiRuntime.start(app.state.config, app.state.metrics)
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.close()
    finally:
        app.state.metrics.close()


def create_app(
    settings: Settings | None = None,
    *,
    model_dir: Path | None = None,
    model_version: str | None = None,
) -> FastAPI:
    """The app; with no arguments (uvicorn's factory), Settings come from CREDIT_* variables."""
    config = ApiConfig.from_settings(
        settings or Settings(), model_dir=model_dir, model_version=model_version
    )
    app = FastAPI(
        title=TITLE,
        summary=SUMMARY,
        version="1",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # The guard answers any path so, before a route is chosen (scoring_api/core/guard.py).
        responses={
            400: {
                "model": ErrorResponse,
                "description": "`invalid_host`: the Host is not in CREDIT_API_TRUSTED_HOSTS",
            }
        },
    )
    app.state.config = config
    # The app's own registry (or, under `serve --workers N`, every worker's files).
    app.state.metrics = api_metrics = ApiMetrics()
    app.state.authenticator = Authenticator(
        KeyStore(config.settings), on_health_change=api_metrics.store_state("key_store")
    )
    install_error_handlers(app)
    app.add_middleware(
        GuardMiddleware,
        trusted_hosts=config.settings.api_trusted_host_names,
        max_body_bytes=config.settings.api_max_body_bytes,
    )
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries the id
    app.include_router(loans.router)
    app.include_router(health.router)
    app.include_router(live.router)
    app.include_router(decisions.router)
    app.include_router(metrics.router)
    # /docs, /redoc: no CDN; for a key or a session like everything else but health
    app.include_router(docs.router, dependencies=[Security(current_caller)])
    app.include_router(session.router)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Security(current_caller)])
    async def openapi(request: Request) -> dict[str, Any]:
        document: dict[str, Any] = request.app.openapi()
        return document

    return app
