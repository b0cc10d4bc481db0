"""The HTTP servers the scoring benchmark loads: the scoring API and `feast serve`.

The API asks for a key on every endpoint but its health checks: `start_api` creates one in the
benchmark's stack, and the Server keeps it as the `Authorization` header its requests carry. A
load generator gets that header through its environment (`AUTH_ENV`), never on its command
line, where `ps` would show it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import ChildProcess, child_env, free_port
from core.api_keys import KeyStore
from core.settings import FEATURE_REPO_DIR, OnlineReaderKind, Settings

READY_TIMEOUT_S = 120.0
# The variable that hands a load generator (bench.loadgen, wrk's script) the Authorization
# header; both read this name.
AUTH_ENV = "BENCH_AUTHORIZATION"


def cpu_prefix(cpus: str | None) -> list[str]:
    """`taskset -c CPUS` when pinning is asked for and possible (children inherit it)."""
    if cpus is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", cpus]


@dataclass
class Server:
    """A started server: its process group, address, the path the load goes to and the headers
    every request carries (the API's key; none for `feast serve`)."""

    name: str
    child: ChildProcess
    port: int
    path: str
    description: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def post(self, body: bytes, timeout: float = 10.0) -> tuple[int, Any]:
        """One request, to check what the server answers before loading it."""
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json", **self.headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def load_env(self) -> dict[str, str]:
        """What a load generator's environment needs to send this server's headers."""
        authorization = self.headers.get("Authorization")
        return {AUTH_ENV: authorization} if authorization else {}

    def stop(self) -> None:
        self.child.stop()


def health_floor(api: Server) -> Server:
    """The API's GET /healthz: HTTP, uvicorn and the client, no Feast and no model."""
    return Server(
        "api-healthz",
        api.child,
        api.port,
        "/healthz",
        "the same API process, GET /healthz: the floor of HTTP + client, no read, no model",
        method="GET",
        headers=dict(api.headers),  # health is open; the key does no harm
    )


def pin_threads(pid: int, cpus: str) -> set[int] | None:
    """Pin every thread of a running process to `cpus`; the previous CPU set, or None."""
    if shutil.which("taskset") is None:
        return None
    before = os.sched_getaffinity(pid)
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True, check=False)
    return before


def unpin_threads(pid: int, cpus: set[int]) -> None:
    listed = ",".join(str(c) for c in sorted(cpus))
    subprocess.run(
        ["taskset", "-a", "-p", "-c", listed, str(pid)], capture_output=True, check=False
    )


def _get_ok(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_api(
    settings: Settings,
    model_dir: Path,
    logs: Path,
    cpus: str | None,
    scopes: Sequence[str] = ("score",),
    name: str = "scoring-api",
) -> Server:
    """`credit-pipeline serve` with one worker (pinned to `cpus`), once /readyz answers, and a
    new key with `scopes` in the stack of `settings` (the API needs one to decide a loan)."""
    port = free_port()
    argv = [
        *cpu_prefix(cpus),
        sys.executable,
        "-m",
        "credit_pipeline.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
        "--model-dir",
        str(model_dir),
    ]
    child = ChildProcess(name, argv, child_env(settings), logs / f"{name}.log")
    try:
        child.wait_until(lambda: _get_ok(port, "/readyz"), READY_TIMEOUT_S, "GET /readyz = 200")
        _, key = KeyStore(settings).create(f"bench-{uuid.uuid4().hex[:8]}", list(scopes))
    except BaseException:
        child.stop()
        raise
    log = "logged" if settings.decision_log else "not logged (CREDIT_DECISION_LOG=false)"
    read = (
        "direct Redis read"
        if settings.online_reader is OnlineReaderKind.DIRECT
        else "Feast async read (CREDIT_ONLINE_READER=feast)"
    )
    return Server(
        name,
        child,
        port,
        "/v1/loan-decisions",
        f"credit-pipeline serve, 1 uvicorn worker: {read} + model + reasons + decision, {log}",
        headers={"Authorization": f"Bearer {key}"},
    )


def start_feast_server(settings: Settings, logs: Path, cpus: str | None) -> Server:
    """`feast serve` on the same repository, one worker, no access log, never recycled."""
    port = free_port()
    feast = str(Path(sys.executable).with_name("feast"))
    argv = [
        *cpu_prefix(cpus),
        feast,
        "-c",
        str(FEATURE_REPO_DIR),
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        # Its default recycles the worker every ~1000 requests with a ~700 ms stall; 0 turns
        # that off, so the baseline is Feast at its best.
        "--max-requests",
        "0",
    ]
    child = ChildProcess("feast serve", argv, child_env(settings), logs / "feast-serve.log")
    child.wait_until(lambda: _get_ok(port, "/health"), READY_TIMEOUT_S, "GET /health = 200")
    return Server(
        "feast-serve",
        child,
        port,
        "/get-online-features",
        "feast serve, 1 gunicorn/uvicorn worker: POST /get-online-features (no model)",
    )
