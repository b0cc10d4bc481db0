"""/docs and /redoc load every file from the API itself, none from a CDN (they work offline).

The pages are tested on a bare app with only the docs router (no stack, no lifespan); the
real app is only built, to check it wires that router in place of FastAPI's CDN pages.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from scoring_api.api.routes import docs
from scoring_api.main import create_app

PAGES = ["/docs", "/redoc"]
ASSET_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
MIN_SCRIPT_BYTES = 50_000  # Swagger UI's bundle and ReDoc are each over a megabyte


class _References(HTMLParser):
    """Every src and href attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.fixture
async def client() -> Any:
    app = FastAPI(docs_url=None, redoc_url=None)
    app.include_router(docs.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.anyio
@pytest.mark.parametrize("page", PAGES)
async def test_a_docs_page_references_only_our_own_files(client: Any, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = _references(response.text)
    assert any(url.endswith(".js") for url in urls), urls
    for url in urls:
        parts = urlsplit(url)
        # Same host: no scheme, no host (a '//cdn…' URL would have one), an absolute path.
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
    assert "http://" not in response.text and "https://" not in response.text
    assert "/openapi.json" in response.text


@pytest.mark.anyio
@pytest.mark.parametrize("page", PAGES)
async def test_every_file_a_docs_page_references_is_served(client: Any, page: str) -> None:
    urls = _references((await client.get(page)).text)
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert response.headers["content-type"].split(";")[0] == ASSET_MEDIA_TYPES[suffix], url
        minimum = 1_000 if suffix == ".png" else MIN_SCRIPT_BYTES
        assert len(response.content) > minimum, url


@pytest.mark.anyio
async def test_the_oauth2_redirect_page_is_self_contained(client: Any) -> None:
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert not _references(response.text)
    assert "http://" not in response.text and "https://" not in response.text


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name", ["unknown.js", "swagger-ui-bundle.js.map", "__init__.py", "..%2Fcore.py"]
)
async def test_only_the_listed_files_are_served(client: Any, name: str) -> None:
    assert (await client.get(f"/docs/static/{name}")).status_code == 404


def test_the_app_serves_the_offline_pages_not_fastapis() -> None:
    app = create_app(Settings())  # built, not started: no lifespan, nothing opened
    assert app.docs_url is None and app.redoc_url is None  # FastAPI's CDN pages are off
    # Route names are the docs router's functions: these paths are ours.
    assert app.url_path_for(docs.swagger_ui.__name__) == "/docs"
    assert app.url_path_for(docs.redoc.__name__) == "/redoc"
    assert app.url_path_for(docs.docs_asset.__name__, name="swagger-ui.css") == (
        "/docs/static/swagger-ui.css"
    )
    assert app.url_path_for("openapi") == "/openapi.json"
