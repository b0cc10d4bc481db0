"""The FastAPI app: `create_app()` wires routes, errors and the lifespan that builds the
model, the Feast store and the Redis client once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from core.settings import Settings
from scoring_api.api.routes import docs, health, live, loans
from scoring_api.core.config import ApiConfig
from scoring_api.core.errors import install_error_handlers
from scoring_api.core.request_id import RequestIdMiddleware
from scoring_api.service.runtime import ApiRuntime

TITLE = "Credit scoring API"
SUMMARY = "Loan decisions from online features (Feast, Redis) and a versioned model"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime = await ApiRuntime.start(app.state.config)
    app.state.runtime = runtime
    try:
        yield
    finally:
        await runtime.close()


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
        docs_url=None,
        redoc_url=None,
    )
    app.state.config = config
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(loans.router)
    app.include_router(health.router)
    app.include_router(live.router)
    app.include_router(docs.router)  # /docs, /redoc: no CDN
    return app
