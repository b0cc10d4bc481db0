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
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from urllib.parse import urlsplit

import anyio
from fastapi import (
    APIRouter,
    FastAPI,
    HTTPException,
    Request,
    Security,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import FileResponse
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
)

from core.contract import ENTITY_KEYS, VIEWS, EntityKey
from core.live.entities import WatchedEntity, parse_key, read_entity
from core.validation import type_json_schema
from scoring_api.api.deps import RuntimeDep
from scoring_api.core.auth import (
    SESSION_COOKIE,
    Caller,
    Unauthenticated,
    bearer_token,
    current_caller,
    identify,
)
from scoring_api.core.errors import ApiError, OnlineStoreUnavailable
from scoring_api.schemas import (
    AUTH_ERRORS,
    BODY_ERRORS,
    EXAMPLE_REQUEST,
    ErrorResponse,
    LoanApplication,
)
from scoring_api.service.hub import TICK_S, LiveClient, LiveHub, WatchKey

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
# The page's code: public (no data in it), so that the login page can load before a session.
STATIC_FILES = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "chart.js": "text/javascript",
    "login.js": "text/javascript",
}
MAX_WATCHED = 20  # entities one page may follow
ENTITY_READ_TIMEOUT_S = 5.0  # a first read may build Feast's clients


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
async def page(request: Request) -> FileResponse:
    """The live page for a valid session, else the page that asks for a key."""
    try:
        await identify(request, None, request.cookies.get(SESSION_COOKIE))
    except Unauthenticated:
        return FileResponse(STATIC_DIR / "login.html", media_type="text/html")
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/live/static/{name}", include_in_schema=False)
async def static(name: str) -> FileResponse:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404)
    return FileResponse(STATIC_DIR / name, media_type=media_type)


AnyCaller = Annotated[Caller, Security(current_caller)]


@router.get(
    "/live/contract",
    summary="What the live page shows, from the feature contract",
    responses=AUTH_ERRORS,
)
async def contract(caller: AnyCaller) -> dict[str, Any]:
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
        "caller": {"name": caller.name, "scopes": sorted(caller.scopes)},
    }


def _integral_float_as_int(value: Any) -> Any:
    """JSON Schema counts 76104.0 as an integer, so the API does too (not "76104", not true)."""
    return int(value) if type(value) is float and value.is_integer() else value


def _entity_request(key: EntityKey) -> type[BaseModel]:
    """The body naming one entity of `key`'s kind, with the key's format in the schema."""
    base: Any = str if key.kind == "string" else int
    key_type: Any = Annotated[
        base,
        BeforeValidator(_integral_float_as_int),
        WithJsonSchema(type_json_schema(key.value_type)),
        AfterValidator(key.parse),  # the contract's checks; messages never quote the key
    ]
    fields: dict[str, Any] = {
        "entity": (Literal[key.name], Field()),
        "key": (key_type, Field()),
    }
    name = "".join(part.title() for part in key.name.split("_")) + "EntityRequest"
    return create_model(
        name,
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__=f"Read one {key.name}: its key as the contract formats it.",
        **fields,
    )


if TYPE_CHECKING:

    class EntityRequest(BaseModel):
        entity: str
        key: str | int

else:  # one body shape per entity of the contract, told apart by `entity`
    EntityRequest = Annotated[
        Union[tuple(_entity_request(key) for key in ENTITY_KEYS.values())],  # noqa: UP007
        Field(discriminator="entity"),
    ]


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
    **AUTH_ERRORS,
    **BODY_ERRORS,
    422: {
        "model": ErrorResponse,
        "description": "`validation_error` (the key breaks the contract)",
    },
    503: {
        "model": ErrorResponse,
        "description": "`online_store_unavailable`, or `auth_unavailable`",
    },
}


@router.post(
    "/live/entities",
    summary="Current online values of one entity (through Feast)",
    responses=_ENTITY_ERRORS,
    dependencies=[Security(current_caller, scopes=["features:read"])],
)
async def read_one(body: EntityRequest, runtime: RuntimeDep) -> dict[str, Any]:
    """Needs the `features:read` scope. The body's model has checked the key already."""
    key = body.key
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


async def _receive_watches(ws: WebSocket, hub: LiveHub, client: LiveClient, caller: Caller) -> None:
    while True:
        text = await ws.receive_text()
        try:
            message = json.loads(text)
        except ValueError:
            continue  # not ours; the connection stays usable
        keys = _watch_keys(message)
        if keys and not caller.allows("features:read"):
            await ws.send_json(
                {
                    "type": "error",
                    "code": "insufficient_scope",
                    "message": "watching entities needs the features:read scope",
                }
            )
            continue
        hub.watch(client, keys)


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
    """Another site's page must not read this feed (CSWSH): the Origin must name this very
    host (the Host header, itself on the trusted list); no Origin at all is refused too."""
    origin = ws.headers.get("origin")
    if not origin:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == ws.headers.get("host")


async def _caller(ws: WebSocket) -> Caller | None:
    """The handshake's caller with the `live` scope, else None (logged, never the key)."""
    try:
        caller = await identify(ws, bearer_token(ws), ws.cookies.get(SESSION_COOKIE))
    except ApiError:
        return None
    if not caller.allows("live"):
        log.warning("key %r lacks scope live for /live/ws", caller.name)
        return None
    return caller


@router.websocket("/live/ws")
async def live_socket(ws: WebSocket) -> None:
    """Needs an Origin of this host and a session (or key) with the `live` scope; watching
    entities needs `features:read` too. Refused handshakes get HTTP 403."""
    if not _same_origin(ws):
        log.warning("live feed refused: missing or foreign Origin")
        await ws.close(code=1008)  # policy violation
        return
    caller = await _caller(ws)
    if caller is None:
        await ws.close(code=1008)
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
            tasks.start_soon(_receive_watches, ws, hub, client, caller)
            tasks.start_soon(_send_updates, ws, hub, client)
    except* (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the page went away (a send may race the close: RuntimeError, OSError)
    finally:
        hub.disconnect(client)
