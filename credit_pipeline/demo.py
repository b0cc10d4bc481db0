"""`credit-pipeline demo`: the whole pipeline on the local stack, until Ctrl-C.

Brings the stack up, initialises it if its offline tables are empty, trains if there is no
model, then runs the processor, the scoring API and a stream of random updates as child
processes, prints where to look and what to try, and on Ctrl-C stops them all. The local stack
is stopped too if (and only if) this command started all of it; a stack that was already
running is left as it was, and the command says so.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from core.settings import Settings
from core.supervisor import ChildFailedError, ChildProcess
from credit_pipeline.demo_setup import (
    DemoError,
    answers,
    child_env,
    cli_command,
    demo_lock,
    history_args,
    offline_is_empty,
    run_step,
    stop_requested,
    try_next,
)

DEFAULT_RATE = 20.0
READY_TIMEOUT_S = 300.0  # a first start imports Feast (~5 s) and may wait for the group join
STOP_TIMEOUT_S = 20.0  # per child, before SIGKILL of its process group
_POLL_S = 0.25


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


@dataclass
class Children:
    """The demo's long-running children, each in its own session (the terminal's Ctrl-C reaches
    only the demo, which stops them in order) and its own log; stopped in reverse start order."""

    settings: Settings
    log_dir: Path
    running: list[ChildProcess] = field(default_factory=list)

    def start(self, name: str, args: list[str], stop_signal: signal.Signals) -> ChildProcess:
        child = ChildProcess(
            name,
            cli_command(*args),
            env=child_env(self.settings),
            log_path=self.log_dir / f"demo-{name}.log",
            stop_signal=stop_signal,
            signal_group=True,  # uvicorn's or faust's helpers too
            die_with_parent=True,  # safe: the demo starts no threads of its own
        )
        self.running.append(child.start())
        return child

    def stop_all(self) -> None:
        for child in reversed(self.running):
            child.stop(STOP_TIMEOUT_S)
        self.running.clear()

    def exited(self) -> ChildProcess | None:
        return next((c for c in self.running if not c.is_running()), None)


def wait_for(
    check: Callable[[], bool], child: ChildProcess, what: str, stop: threading.Event
) -> None:
    """Until `check()`; fails if the child exits or READY_TIMEOUT_S passes."""
    from core.console import waiting

    try:
        with waiting(f"waiting for the {child.name}") as redraw:

            def ready() -> bool:
                redraw()
                return stop.is_set() or check()

            child.wait_ready(ready, READY_TIMEOUT_S, what, interval=_POLL_S)
    except ChildFailedError as exc:
        raise DemoError(str(exc)) from exc
    if stop.is_set():
        raise KeyboardInterrupt


# -- the demo's API key ------------------------------------------------------------------------


@dataclass
class DemoKey:
    """A key with every scope for this demo's page and this machine's clients: in a 0600 file
    in the state dir (`Settings.client_api_key` finds it), revoked when the demo stops."""

    name: str | None = None

    def create(self, settings: Settings) -> None:
        import os
        import time

        from core.api_keys import SCOPES, KeyStore

        self.name = f"demo-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        _, key = KeyStore(settings).create(self.name, list(SCOPES))
        path = settings.demo_key_file
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key + "\n")

    def login_code(self, settings: Settings) -> str:
        from core.api_keys import KeyStore

        assert self.name is not None, "create() first"
        return KeyStore(settings).login_code(self.name)

    def revoke(self, settings: Settings) -> None:
        from core.api_keys import KeyStore
        from core.errors import CreditPipelineError

        settings.demo_key_file.unlink(missing_ok=True)
        if self.name is not None:
            try:
                KeyStore(settings).revoke(self.name)
            except CreditPipelineError as exc:  # Postgres already gone: the key is useless
                sys.stderr.write(f"could not revoke the demo's key {self.name}: {exc}\n")


# -- the command ------------------------------------------------------------------------------


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Handler of `demo`: one per state dir, on free ports, or nothing is started."""
    from core.ports import require_free_port

    page = settings.api_url + "/"
    with demo_lock(settings, page):
        require_free_port(settings.api_host, settings.api_port, "CREDIT_API_PORT")
        return _run_demo(settings, args)


def _run_demo(settings: Settings, args: argparse.Namespace) -> int:
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
    demo_key = DemoKey()
    try:
        with stop_requested() as stop:
            if offline_is_empty(settings):
                out.write("offline store empty: running `credit-pipeline init`\n")
                out.flush()
                run_step(settings, ["init", *history_args(args)], stop)
            if not list_versions(settings.model_path):
                out.write(f"no model in {settings.model_path}: running `credit-pipeline train`\n")
                out.flush()
                run_step(settings, ["train"], stop)
            demo_key.create(settings)
            code = _run_children(settings, args, children, stop, out, demo_key)
    except KeyboardInterrupt:
        out.write("\ninterrupted\n")
        code = 130
    finally:
        out.write("stopping the producer, the API and the processor ...\n")
        out.flush()
        children.stop_all()
        demo_key.revoke(settings)
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
    demo_key: DemoKey,
) -> int:
    out.write("starting the processor and the scoring API\n")
    out.flush()
    processor = children.start("processor", ["process"], signal.SIGTERM)
    wait_for(lambda: "stream processor ready" in processor.log_tail(400), processor, "ready", stop)
    out.write("processor ready\n")
    api = children.start("api", ["serve"], signal.SIGTERM)
    base = settings.api_url
    wait_for(lambda: answers(f"{base}/readyz"), api, "answer on /readyz", stop)
    out.write(f"scoring API ready on {base}\n")
    # SIGINT: the producer flushes what it has sent before it exits.
    children.start("producer", ["produce", "stream", "--rate", f"{args.rate:g}"], signal.SIGINT)
    assert demo_key.name is not None
    try_next(settings, out, demo_key.login_code(settings), demo_key.name)
    while not stop.wait(_POLL_S):
        failed = children.exited()
        if failed is not None:
            out.write(
                f"{failed.name} {failed.describe_exit()}; its log ({failed.log_path}) ends "
                f"with:\n{failed.log_tail()}\n"
            )
            return 1
    out.write("\nCtrl-C: ")
    return 0
