"""`credit-pipeline demo` on its own fresh stack: it starts, the page answers, the API scores,
and Ctrl-C leaves no process behind (psutil checks every descendant it had)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from core.settings import REPO_ROOT, Settings, settings_env
from scoring_api.schemas import EXAMPLE_REQUEST

pytestmark = pytest.mark.integration


def _post(url: str, body: dict[str, object], settings: Settings) -> dict[str, object]:
    key = settings.client_api_key()  # the demo's key file
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def _hints(output: str) -> list[str]:
    """The commands the demo tells the user to try, continuation lines joined."""
    block = output.split("Try, in another terminal", 1)[1].split("\n\n", 1)[0]
    commands, current = [], ""
    for line in block.splitlines()[1:]:
        current += line.strip().removesuffix("\\")
        if not line.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


def _shell(command: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "-c", command],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _try_the_hints(output: str, settings: Settings) -> None:
    """Run each hint exactly as printed, in a shell with the demo's CREDIT_* variables."""
    env = {**os.environ, **settings_env(settings)}
    hints = _hints(output)
    assert len(hints) == 4, hints
    for command in hints:
        shell = _shell(command, env)
        if " watch" in command:  # runs until Ctrl-C: some output, then a clean stop
            time.sleep(25)
            assert shell.poll() is None, shell.communicate()[0]
            os.killpg(shell.pid, signal.SIGINT)
        out, _ = shell.communicate(timeout=120)
        assert shell.returncode == 0, (command, out)
        assert "Traceback" not in out, (command, out)
        if "--dob-ssn" in command and " watch" in command:
            assert "watching for changes" in out, out
        elif " watch" in command:
            assert out.strip(), "watch printed nothing while the demo streamed"
        elif command.startswith("curl"):
            assert json.loads(out)["decision"] in {"approved", "rejected"}, out
        else:  # produce update prints the event it sent, its key masked
            sent = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
            assert sent["hard_pulls"] == 5, out
            assert EXAMPLE_REQUEST["dob_ssn"] not in out


def readme_demo_commands() -> list[str]:
    """The README's commands for "with `./run demo` running", comments cut, lines joined."""
    text = (REPO_ROOT / "README.md").read_text()
    block = text.split("With `./run demo` running", 1)[1].split("```sh\n", 1)[1].split("```")[0]
    commands, current = [], ""
    for line in block.splitlines():
        code = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        current += code.removesuffix("\\").strip() + (" " if code.endswith("\\") else "")
        if current and not code.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


# How each README command is known to work: a long-running one runs until `until` appears in
# its output (or `seconds` pass), then gets Ctrl-C and must exit 0.
_LONG_RUNNING = {
    "credit-pipeline process &": ("assigned", 120.0),
    "credit-pipeline serve --port 8001 &": ("scoring API ready", 120.0),
    "credit-pipeline watch": (None, 8.0),
    "credit-pipeline produce stream": ("events/s (Ctrl-C stops)", 60.0),
}


def _interrupt_when(
    shell: subprocess.Popen[str], until: str | None, seconds: float, *, command: str
) -> str:
    """Its output once `until` was printed (or `seconds` passed) and Ctrl-C stopped it."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(shell.stdout or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and shell.poll() is None:
        if until is not None and any(until in line for line in lines):
            break
        time.sleep(0.2)
    assert shell.poll() is None, (command, "".join(lines))
    assert until is None or any(until in line for line in lines), (command, "".join(lines))
    os.killpg(shell.pid, signal.SIGINT)
    shell.wait(60)
    reader.join(10)
    return "".join(lines)


def _try_the_readme(settings: Settings) -> None:
    """Run the README's commands beside the demo as printed (`&` dropped: the test waits)."""
    env = {**os.environ, **settings_env(settings)}
    # The user sets no metrics port: the default is taken by the demo's processor here or
    # not, and `process` must cope either way.
    env.pop("CREDIT_METRICS_PORT")
    env["PATH"] = f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"  # the README's note
    commands = readme_demo_commands()
    assert len(commands) == 8, commands
    for command in commands:
        long_running = next((v for k, v in _LONG_RUNNING.items() if command.startswith(k)), None)
        shell = _shell(command.removesuffix("&").strip(), env)
        if long_running is not None:
            out = _interrupt_when(shell, *long_running, command=command)
        else:
            out, _ = shell.communicate(timeout=300)
        assert shell.returncode == 0, (command, out)
        assert "Traceback" not in out, (command, out)
        assert EXAMPLE_REQUEST["dob_ssn"] not in out, (command, out)  # masked everywhere
        if command.startswith("credit-pipeline score"):
            assert out.split()[0] in ("APPROVED", "REJECTED"), out
        if command.startswith("credit-pipeline train"):
            assert "saved to" in out, out


def _demo_in_foreground(settings: Settings) -> subprocess.CompletedProcess[str]:
    """`credit-pipeline demo` with these settings, expected to refuse and end on its own."""
    return subprocess.run(
        [sys.executable, "-m", "credit_pipeline.cli", "demo"],
        cwd=REPO_ROOT,
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )


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
        assert demo_settings.demo_key_file.stat().st_mode & 0o077 == 0  # the owner's only
        decision = _post(base + "/v1/loan-decisions", EXAMPLE_REQUEST, demo_settings)
        assert decision["decision"] in {"approved", "rejected"}
        _try_the_hints(output, demo_settings)
        _try_the_readme(demo_settings)

        # A second demo on the same state dir says so and changes nothing.
        second = _demo_in_foreground(demo_settings)
        assert second.returncode != 0
        assert f"a demo is already running on {demo_settings.state_path} (pid {demo.pid}" in (
            second.stderr + second.stdout
        )
        assert "ready" not in second.stdout
        assert _post(base + "/v1/loan-decisions", EXAMPLE_REQUEST, demo_settings)["decision"]

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
    assert not demo_settings.demo_key_file.exists()  # its key went with it (and was revoked)

    def alive(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 10
    while (left := [p for p in descendants if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [" ".join(p.cmdline()) for p in left]


def test_a_demo_on_a_taken_api_port_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        settings = Settings(state_dir=tmp_path / "state", api_port=port)
        done = _demo_in_foreground(settings)
    assert done.returncode != 0
    assert f"127.0.0.1:{port} is already in use by pid {os.getpid()}" in done.stderr
    assert "set CREDIT_API_PORT to a free port" in done.stderr
    started = sorted(p.name for p in (tmp_path / "state").iterdir())
    assert started == ["demo.lock"], started  # no stack, no logs, no data
