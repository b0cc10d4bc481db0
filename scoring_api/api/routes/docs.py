"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), with no CDN.

FastAPI's own pages load Swagger UI's and ReDoc's scripts from a CDN, so they are blank
offline; these serve the same pages with every file from the installed `fastapi-offline`
package (Swagger UI 5, ReDoc 2), under `/docs/static/`. The app turns its own pages off
(`docs_url=None, redoc_url=None`); both pages read the OpenAPI document at `/openapi.json`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

ASSET_DIR = Path(str(files("fastapi_offline").joinpath("static")))
ASSET_PREFIX = "/docs/static"
# Exactly the files the two pages load; any other name is a 404.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
OPENAPI_PATH = "/openapi.json"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
# Swagger UI's validator badge would call validator.swagger.io: off, nothing leaves the page.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

router = APIRouter(tags=["docs"], include_in_schema=False)


def _app_and_root(request: Request) -> tuple[FastAPI, str]:
    """The app and the root path the API is mounted under (behind a proxy), without its '/'."""
    app: FastAPI = request.app
    return app, str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app, root_path = _app_and_root(request)
    return get_swagger_ui_html(
        openapi_url=root_path + OPENAPI_PATH,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root_path}{ASSET_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{root_path}{ASSET_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{root_path}{ASSET_PREFIX}/favicon.png",
        oauth2_redirect_url=root_path + OAUTH2_REDIRECT_PATH,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters={**SWAGGER_UI_PARAMETERS, **(app.swagger_ui_parameters or {})},
    )


@router.get(OAUTH2_REDIRECT_PATH)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app, root_path = _app_and_root(request)
    return get_redoc_html(
        openapi_url=root_path + OPENAPI_PATH,
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root_path}{ASSET_PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{root_path}{ASSET_PREFIX}/favicon.png",
        with_google_fonts=False,
    )


@router.get(ASSET_PREFIX + "/{name}")
async def docs_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404)
    return FileResponse(ASSET_DIR / name, media_type=media_type)
