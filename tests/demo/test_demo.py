"""`credit-pipeline demo` on its own fresh stack: it starts, the page answers, the API scores,
and Ctrl-C leaves no process behind (psutil checks every descendant it had)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from core.settings import Settings
from scoring_api.schemas import EXAMPLE_REQUEST

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo_settings() -> Iterator[Settings]:
    """A state dir and ports of its own: the demo starts (and must stop) a whole stack."""
    from local_stack import LocalStack
    from local_stack.sysuser import scratch_state_dir

    base = scratch_state_dir("credit-test-demo-")
    settings = Settings(
        state_dir=base / "state",
        kafka_port=_free_port(),
        redis_port=_free_port(),
        postgres_port=_free_port(),
        api_port=_free_port(),
        metrics_port=_free_port(),
    )
    try:
        yield settings
    finally:
        LocalStack(settings).down()  # in case the demo failed to
        shutil.rmtree(base, ignore_errors=True)


def _post(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_demo_runs_everything_and_ctrl_c_leaves_nothing_behind(
    demo_settings: Settings, tmp_path: Path, start_python: Callable[..., Any]
) -> None:
    log = tmp_path / "demo.log"
    demo = start_python(
        demo_settings, log, "-m", "credit_pipeline.cli", "demo", "--rate", "20",
        "--persons", "400", "--zipcodes", "80", "--seed", "5",
    )  # fmt: skip
    descendants: list[psutil.Process] = []
    try:
        demo.wait_for_log("Ctrl-C stops everything", 400)
        output = demo.log
        base = f"http://127.0.0.1:{demo_settings.api_port}"
        assert f"Live page: {base}/" in output
        assert "running `credit-pipeline init`" in output
        assert "running `credit-pipeline train`" in output

        with urllib.request.urlopen(base + "/", timeout=10) as page:
            assert page.status == 200
            assert b"credit-pipeline" in page.read()
        decision = _post(base + "/v1/loan-decisions", EXAMPLE_REQUEST)
        assert decision["decision"] in {"approved", "rejected"}

        # Every process the demo runs: its children and theirs (the stack's servers too).
        descendants = psutil.Process(demo.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in descendants]
        for part in ("process", "serve", "produce stream", "tansu", "valkey", "postgres"):
            assert any(part in c for c in commands), (part, commands)

        demo.signal(signal.SIGINT)
        assert demo.wait(120) == 0, demo.log[-4000:]
    finally:
        if demo.child.is_running():  # a failed test: what the demo leaves is checked below
            demo.stop(0)
    output = log.read_text(errors="replace")
    assert "stopped the local stack (this demo started it)" in output

    def alive(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 10
    while (left := [p for p in descendants if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [" ".join(p.cmdline()) for p in left]
