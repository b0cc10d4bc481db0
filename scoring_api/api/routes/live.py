"""The live page: `/` and its static files, the contract it renders, entity reads, a WebSocket.

Watched keys travel in the WebSocket's messages and in POST bodies, never in a URL, so they do
not end up in access logs. The feed comes from one Redis subscription per API process (the
router's lifespan); a connection gets its watched entities' updates the moment they arrive
and a snapshot (rates, freshness, recent updates with masked keys) every TICK_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from core.contract import ENTITY_KEYS, VIEWS
from core.live.entities import WatchedEntity, parse_key, read_entity
from scoring_api.api.deps import RuntimeDep
from scoring_api.core.errors import ApiError, OnlineStoreUnavailable
from scoring_api.schemas import EXAMPLE_REQUEST, ErrorResponse, LoanApplication
from scoring_api.service.hub import TICK_S, LiveClient, LiveHub, WatchKey

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css", "chart.js": "text/javascript"}
MAX_WATCHED = 20  # entities one page may follow
ENTITY_READ_TIMEOUT_S = 5.0  # a first read may build Feast's clients


class InvalidEntityKey(ApiError):
    """The entity or its key does not follow the contract (the message masks the key)."""

    status_code = 422
    code = "invalid_entity_key"


@contextlib.asynccontextmanager
async def live_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Subscribe once per process; merged into the app's lifespan by `include_router`."""
    settings = app.state.config.settings
    hub = LiveHub(settings) if settings.live_channel is not None else None
    app.state.live_hub = hub
    if hub is not None:
        await hub.start()
    try:
        yield
    finally:
        if hub is not None:
            await hub.close()


router = APIRouter(tags=["live"], lifespan=live_lifespan)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/live/static/{name}", include_in_schema=False)
async def static(name: str) -> FileResponse:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404)
    return FileResponse(STATIC_DIR / name, media_type=media_type)


@router.get("/live/contract", summary="What the live page shows, from the feature contract")
async def contract() -> dict[str, Any]:
    return {
        "entities": [
            {"name": key.name, "kind": key.kind, "sensitive": key.sensitive}
            for key in ENTITY_KEYS.values()
        ],
        "views": [
            {
                "name": view.name,
                "entity": view.entity.name,
                "features": [{"name": c.name, "kind": c.kind} for c in view.features],
            }
            for view in VIEWS
        ],
        "loan_form": {
            "schema": LoanApplication.model_json_schema(),
            "example": EXAMPLE_REQUEST,
            "path": "/v1/loan-decisions",
        },
        "tick_ms": TICK_S * 1000,
    }


class EntityRequest(BaseModel):
    """An entity to read: its join key name and its key (text or number)."""

    entity: str = Field(examples=["dob_ssn"])
    key: str | int = Field(examples=["19630621_4278"])


def _ms(value: Any) -> float | None:
    return None if value is None else float(value.timestamp() * 1000)


def entity_body(watched: WatchedEntity) -> dict[str, Any]:
    return {
        "entity": watched.entity,
        "key": watched.key,
        "views": {
            name: {"values": state.values, "event_ts": _ms(state.event_timestamp)}
            for name, state in watched.views.items()
        },
    }


_ENTITY_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "`invalid_entity_key` or `validation_error`"},
    503: {"model": ErrorResponse, "description": "`online_store_unavailable`"},
}


@router.post(
    "/live/entities",
    summary="Current online values of one entity (through Feast)",
    responses=_ENTITY_ERRORS,
)
async def read_one(body: EntityRequest, runtime: RuntimeDep) -> dict[str, Any]:
    try:
        key = parse_key(body.entity, str(body.key))
    except ValueError as exc:  # its message masks a sensitive key
        raise InvalidEntityKey(str(exc)) from None
    try:
        async with asyncio.timeout(ENTITY_READ_TIMEOUT_S):
            watched = await asyncio.to_thread(read_entity, runtime.store, body.entity, key)
    except TimeoutError:
        raise OnlineStoreUnavailable("the online store did not answer in time") from None
    except Exception as exc:  # Feast and Redis raise many types; the key stays out of logs
        log.warning("live entity read failed: %s", type(exc).__name__)
        raise OnlineStoreUnavailable(
            f"the online store is unreachable ({type(exc).__name__})"
        ) from exc
    return entity_body(watched)


# -- the push channel ---------------------------------------------------------------------------


def _watch_keys(message: Any) -> list[WatchKey]:
    """The (entity, key) pairs of a `{"watch": [{"entity", "key"}]}` message; bad ones skipped."""
    keys: list[WatchKey] = []
    items = message.get("watch") if isinstance(message, dict) else None
    for item in items if isinstance(items, list) else []:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            keys.append((item["entity"], parse_key(item["entity"], str(item["key"]))))
    return keys[:MAX_WATCHED]


async def _receive_watches(ws: WebSocket, hub: LiveHub, client: LiveClient) -> None:
    while True:
        text = await ws.receive_text()
        try:
            message = json.loads(text)
        except ValueError:
            continue  # not ours; the connection stays usable
        hub.watch(client, _watch_keys(message))


async def _send_updates(ws: WebSocket, hub: LiveHub, client: LiveClient) -> None:
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while True:
        if loop.time() >= next_tick:
            await ws.send_json(hub.snapshot())
            next_tick = loop.time() + TICK_S
        with contextlib.suppress(TimeoutError):
            message = await asyncio.wait_for(client.queue.get(), next_tick - loop.time())
            if client.overflowed:
                client.overflowed = False
                message = {"type": "resync"}
            await ws.send_json(message)


def _same_origin(ws: WebSocket) -> bool:
    """Browsers send Origin: another site's page must not read this feed (CSWSH)."""
    origin = ws.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == ws.headers.get("host")


@router.websocket("/live/ws")
async def live_socket(ws: WebSocket) -> None:
    if not _same_origin(ws):
        await ws.close(code=1008)  # policy violation
        return
    hub: LiveHub | None = ws.app.state.live_hub
    await ws.accept()
    if hub is None:
        await ws.send_json({"type": "disabled"})
        await ws.close()
        return
    client = hub.connect()
    try:
        # anyio's task group, not asyncio's: it nests in the server's (or a test client's)
        # cancel scopes without losing track of whose cancellation is whose.
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_receive_watches, ws, hub, client)
            tasks.start_soon(_send_updates, ws, hub, client)
    except* (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the page went away (a send may race the close: RuntimeError, OSError)
    finally:
        hub.disconnect(client)
