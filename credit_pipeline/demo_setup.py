"""What `demo` needs around its long-running children: the state of the stack, the one-off
steps (init, train) it runs first, Ctrl-C handling, and what it tells the user to try."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from core.errors import CreditPipelineError
from core.settings import REPO_ROOT, Settings, settings_env
from core.supervisor import ChildProcess


class DemoError(CreditPipelineError):
    """A part of the demo did not start; the message points at its log."""


def cli_command(*args: str) -> list[str]:
    """`credit-pipeline ARGS` as this interpreter runs it."""
    return [sys.executable, "-m", "credit_pipeline.cli", *args]


def child_env(settings: Settings) -> dict[str, str]:
    """Children rebuild exactly these settings; the rest of the environment passes through."""
    return {**os.environ, **settings_env(settings)}


def run_step(settings: Settings, args: list[str], stop: threading.Event) -> None:
    """A one-off command (init, train) in the foreground, its output on this terminal."""
    # In the demo's process group: a Ctrl-C reaches it directly and ends it.
    step = ChildProcess(args[0], cli_command(*args), env=child_env(settings), new_session=False)
    code = step.start().wait()
    if code and stop.is_set():
        raise KeyboardInterrupt
    if code:
        raise DemoError(f"`credit-pipeline {' '.join(args)}` failed (exit code {code})")


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


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def demo_lock(settings: Settings, page: str) -> Iterator[None]:
    """One demo per state dir. A second one says where the first runs and changes nothing; the
    lock is the kernel's (flock), so it is released whenever the demo's process ends."""
    import fcntl

    settings.state_path.mkdir(parents=True, exist_ok=True)
    with open(settings.state_path / "demo.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise DemoError(
                f"a demo is already running on {settings.state_path} ({holder}): use it, stop "
                "it with Ctrl-C, or give this one its own CREDIT_STATE_DIR and ports"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}, live page {page}")
        lock.flush()
        yield


@contextlib.contextmanager
def stop_requested() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set the event instead of raising, so shutdown runs in order."""
    stop = threading.Event()
    handler = lambda signum, frame: stop.set()  # noqa: E731
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def typed_command() -> str:
    """How the user types this CLI in a shell where they are: `credit-pipeline` when that name
    on PATH is this installation (an installed package, an activated venv), else `./run` in a
    checkout's root, else the path of this installation's script."""
    ours = Path(sys.executable).with_name("credit-pipeline")
    found = shutil.which("credit-pipeline")
    if found and Path(found).resolve() == ours.resolve():
        return "credit-pipeline"
    run = REPO_ROOT / "run"
    if run.is_file():
        return "./run" if Path.cwd().resolve() == REPO_ROOT else shlex.quote(str(run))
    return shlex.quote(str(ours))


def try_next(settings: Settings, out: TextIO, login_code: str, key_name: str) -> None:
    """Where to look and what to try, with the tutorial's applicant (always in the history).

    Every command is printed as it can be pasted: tests/demo/test_demo.py runs them as printed.
    The page's link carries a one-time code (10 minutes) that signs the browser in.
    """
    from scoring_api.schemas import EXAMPLE_REQUEST

    base = settings.api_url
    key_file = shlex.quote(str(settings.demo_key_file))
    dob_ssn = EXAMPLE_REQUEST["dob_ssn"]
    body = json.dumps(EXAMPLE_REQUEST)
    cli = typed_command()
    out.write(
        f"\nThe pipeline is running. Live page: {base}/#code={login_code}\n"
        "  (a one-time sign-in link, valid 10 minutes; another: "
        f"{cli} keys login-link --name {key_name})\n"
        f"API docs: {base}/docs   Logs: {settings.state_path / 'logs'}/demo-*.log\n"
        f"API key of this demo (every scope, revoked when it stops): {key_file}\n\n"
        "Try, in another terminal (with the same CREDIT_* variables, if you set any):\n"
        f"  {cli} produce update --dob-ssn {dob_ssn} --hard-pulls 5\n"
        f"  {cli} watch --dob-ssn {dob_ssn}\n"
        f"  {cli} watch\n"
        f"  curl -s -X POST {base}/v1/loan-decisions -H 'Content-Type: application/json' \\\n"
        f'    -H "Authorization: Bearer $(cat {key_file})" \\\n'
        f"    -d '{body}'\n\n"
        "Ctrl-C stops everything.\n"
    )
    out.flush()
