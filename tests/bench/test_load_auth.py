"""The load generators send the scoring API's key, taken from their environment (never from
their command line): bench.loadgen and wrk's script, against a local server that records the
headers it gets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import loadgen, servers
from bench.wrk import _SCRIPT, run_wrk, wrk_path

KEY = "Bearer cpk_0123456789ab_not-a-real-key"


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str | None]]]:
    """(URL of a server answering 200 to every POST, the Authorization headers it got)."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/loan-decisions", seen
    finally:
        server.shutdown()
        server.server_close()


def test_one_variable_name_for_every_generator() -> None:
    assert loadgen.AUTH_ENV == servers.AUTH_ENV
    assert f'os.getenv("{servers.AUTH_ENV}")' in _SCRIPT


def test_loadgen_headers_carry_the_key_only_when_given() -> None:
    assert loadgen.request_headers({}) == {"Content-Type": "application/json"}
    headers = loadgen.request_headers({loadgen.AUTH_ENV: KEY})
    assert headers == {"Content-Type": "application/json", "Authorization": KEY}


def test_loadgen_sends_the_key_of_its_environment(
    recorder: tuple[str, list[str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = recorder
    monkeypatch.setenv(loadgen.AUTH_ENV, KEY)
    result = asyncio.run(loadgen.closed_loop(url, [b"{}"], 0.2, 2, "POST"))
    assert result["statuses"] == {"200": len(seen)} and seen
    assert set(seen) == {KEY}


@pytest.mark.skipif(wrk_path() is None, reason="wrk is not installed")
def test_wrk_sends_the_key_of_its_environment(
    recorder: tuple[str, list[str | None]], tmp_path: Path
) -> None:
    url, seen = recorder
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text("{}\n")
    raw = run_wrk(url, bodies, 1, 1, [], tmp_path, env={servers.AUTH_ENV: KEY})
    assert raw["requests"] > 0 and raw["errors"] == {}
    assert seen and set(seen) == {KEY}
    assert KEY not in (tmp_path / "bench.lua").read_text()  # the script holds no key


@pytest.mark.skipif(wrk_path() is None, reason="wrk is not installed")
def test_wrk_sends_no_authorization_without_one(
    recorder: tuple[str, list[str | None]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = recorder
    monkeypatch.delenv(servers.AUTH_ENV, raising=False)
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text("{}\n")
    run_wrk(url, bodies, 1, 1, [], tmp_path)
    assert seen and set(seen) == {None}
