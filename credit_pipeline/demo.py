"""`credit-pipeline demo`: the whole pipeline on the local stack, until Ctrl-C.

Brings the stack up, initialises it if its offline tables are empty, trains if there is no
model, then runs the processor, the scoring API and a stream of random updates as child
processes, prints where to look and what to try, and on Ctrl-C stops them all. The local stack
is stopped too if (and only if) this command started all of it; a stack that was already
running is left as it was, and the command says so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from core.errors import CreditPipelineError
from core.settings import Settings

DEFAULT_RATE = 20.0
READY_TIMEOUT_S = 300.0  # a first start imports Feast (~5 s) and may wait for the group join
STOP_TIMEOUT_S = 20.0  # per child, before SIGKILL of its process group
_POLL_S = 0.25


class DemoError(CreditPipelineError):
    """A part of the demo did not start; the message points at its log."""


def add_demo_command(subparsers: Any) -> None:
    """Register `demo`."""
    from history.options import HISTORY_OPTIONS

    demo = subparsers.add_parser(
        "demo",
        help="run everything on the local stack: processor, API with the live page, a random "
        "update stream (Ctrl-C stops it all)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"random updates per second (default {DEFAULT_RATE:g})",
    )
    HISTORY_OPTIONS.add_arguments(demo)  # used only when the stack has to be initialised
    demo.set_defaults(func=run_demo)


# -- child processes ---------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the demo dies without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """A long-running part of the demo in its own process group, its output in a log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: signal.Signals

    def log_tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Its stop signal to the whole group, then SIGKILL of the group after `timeout`."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        # Whatever the leader left in its group (uvicorn or faust helpers) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


@dataclass
class Children:
    """The demo's children, stopped in reverse start order."""

    settings: Settings
    log_dir: Path
    running: list[Child] = field(default_factory=list)

    def start(self, name: str, args: list[str], stop_signal: signal.Signals) -> Child:
        from core.settings import settings_env

        log_path = self.log_dir / f"demo-{name}.log"
        # Children rebuild exactly these settings; the rest of the environment passes through.
        env = {**os.environ, **settings_env(self.settings)}
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "credit_pipeline.cli", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own group: the terminal's Ctrl-C reaches only the demo, which stops them in order.
                start_new_session=True,
                preexec_fn=_die_with_parent,  # safe: the demo starts no threads of its own
            )
        child = Child(name, proc, log_path, stop_signal)
        self.running.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.running):
            child.stop()
        self.running.clear()

    def exited(self) -> Child | None:
        return next((c for c in self.running if c.proc.poll() is not None), None)


def run_step(settings: Settings, args: list[str], stop: threading.Event) -> None:
    """A one-off command (init, train) in the foreground, its output on this terminal."""
    from core.settings import settings_env

    env = {**os.environ, **settings_env(settings)}
    # In the demo's process group: a Ctrl-C reaches it directly and ends it.
    code = subprocess.call([sys.executable, "-m", "credit_pipeline.cli", *args], env=env)
    if code and stop.is_set():
        raise KeyboardInterrupt
    if code:
        raise DemoError(f"`credit-pipeline {' '.join(args)}` failed (exit code {code})")


def wait_for(check: Callable[[], bool], child: Child, what: str, stop: threading.Event) -> None:
    """Until `check()`; fails if the child exits or READY_TIMEOUT_S passes."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not check():
        if child.proc.poll() is not None:
            raise DemoError(
                f"{child.name} exited with code {child.proc.returncode} before {what}; "
                f"its log ({child.log_path}) ends with:\n{child.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"{child.name}: no {what} within {READY_TIMEOUT_S:.0f} s; see {child.log_path}"
            )
        if stop.wait(_POLL_S):
            raise KeyboardInterrupt


# -- what the stack needs ---------------------------------------------------------------------


def offline_is_empty(settings: Settings) -> bool:
    """Whether any offline table is missing or empty (then `init` has not run)."""
    import psycopg2
    from psycopg2 import sql

    from core.contract import LOAN_TABLE, VIEWS

    tables = [*(v.table for v in VIEWS), LOAN_TABLE]
    with (
        contextlib.closing(psycopg2.connect(**settings.postgres_connect_kwargs())) as conn,
        conn.cursor() as cur,
    ):
        for table in tables:
            cur.execute("SELECT to_regclass(%s)", (f'"{settings.postgres_schema}"."{table}"',))
            (exists,) = cur.fetchone() or (None,)
            if exists is None:
                return True
            query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
                sql.Identifier(settings.postgres_schema, table)
            )
            cur.execute(query)
            (has_rows,) = cur.fetchone() or (False,)
            if not has_rows:
                return True
    return False


def history_args(args: argparse.Namespace) -> list[str]:
    """The history options of `demo`, passed on to `init`."""
    if args.from_parquet is not None:
        return ["--from-parquet", str(args.from_parquet)]
    out = [
        "--persons",
        str(args.persons),
        "--zipcodes",
        str(args.zipcodes),
        "--seed",
        str(args.seed),
    ]
    if args.loans is not None:
        out += ["--loans", str(args.loans)]
    if getattr(args, "end", None) is not None:
        out += ["--end", f"{args.end:%Y-%m-%d}"]
    return out


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set the event instead of raising, so shutdown runs in order."""
    stop = threading.Event()
    handler = lambda signum, frame: stop.set()  # noqa: E731
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def try_next(settings: Settings, out: TextIO) -> None:
    """Where to look and what to try, with the tutorial's applicant (always in the history)."""
    from scoring_api.schemas import EXAMPLE_REQUEST

    base = f"http://{settings.api_host}:{settings.api_port}"
    dob_ssn = EXAMPLE_REQUEST["dob_ssn"]
    body = json.dumps(EXAMPLE_REQUEST)
    out.write(
        f"\nThe pipeline is running. Live page: {base}/   (API docs: {base}/docs)\n"
        f"Logs: {settings.state_path / 'logs'}/demo-*.log\n\n"
        "Try, in another terminal (with the same CREDIT_* variables, if you set any):\n"
        f"  credit-pipeline produce update --dob-ssn {dob_ssn} --missed-payments-6m 3\n"
        f"  credit-pipeline watch --dob-ssn {dob_ssn}\n"
        "  credit-pipeline watch\n"
        f"  curl -s -X POST {base}/v1/loan-decisions -H 'Content-Type: application/json' \\\n"
        f"    -d '{body}'\n\n"
        "Ctrl-C stops everything.\n"
    )
    out.flush()


# -- the command ------------------------------------------------------------------------------


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Handler of `demo`."""
    from core.model.artifact import list_versions
    from local_stack import LocalStack

    out = sys.stdout
    stack = LocalStack(settings)
    already = [s.name for s in stack.status() if s.healthy]
    out.write(f"local stack ({settings.stack.value}): starting what is not running\n")
    stack.up()
    owns_stack = not stack.external and not already
    children = Children(settings, settings.state_path / "logs")
    children.log_dir.mkdir(parents=True, exist_ok=True)
    code = 0
    try:
        with _stop_requested() as stop:
            if offline_is_empty(settings):
                out.write("offline store empty: running `credit-pipeline init`\n")
                out.flush()
                run_step(settings, ["init", *history_args(args)], stop)
            if not list_versions(settings.model_path):
                out.write(f"no model in {settings.model_path}: running `credit-pipeline train`\n")
                out.flush()
                run_step(settings, ["train"], stop)
            code = _run_children(settings, args, children, stop, out)
    except KeyboardInterrupt:
        out.write("\ninterrupted\n")
        code = 130
    finally:
        out.write("stopping the producer, the API and the processor ...\n")
        out.flush()
        children.stop_all()
        if owns_stack:
            stack.down()
            out.write("stopped the local stack (this demo started it)\n")
        elif not stack.external:
            out.write(
                f"the local stack was already running ({', '.join(already)}): left running; "
                "`credit-pipeline stack down` stops it\n"
            )
    return code


def _run_children(
    settings: Settings,
    args: argparse.Namespace,
    children: Children,
    stop: threading.Event,
    out: TextIO,
) -> int:
    processor = children.start("processor", ["process"], signal.SIGTERM)
    wait_for(lambda: "stream processor ready" in processor.log_tail(400), processor, "ready", stop)
    out.write("processor ready\n")
    api = children.start("api", ["serve"], signal.SIGTERM)
    base = f"http://{settings.api_host}:{settings.api_port}"
    wait_for(lambda: _answers(f"{base}/readyz"), api, "answer on /readyz", stop)
    out.write(f"scoring API ready on {base}\n")
    # SIGINT: the producer flushes what it has sent before it exits.
    children.start("producer", ["produce", "stream", "--rate", f"{args.rate:g}"], signal.SIGINT)
    try_next(settings, out)
    while not stop.wait(_POLL_S):
        failed = children.exited()
        if failed is not None:
            out.write(
                f"{failed.name} exited with code {failed.proc.returncode}; its log "
                f"({failed.log_path}) ends with:\n{failed.log_tail()}\n"
            )
            return 1
    out.write("\nCtrl-C: ")
    return 0
