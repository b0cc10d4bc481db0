"""`credit-pipeline process [--workers N]`: one worker here, or N worker processes in one group."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from enum import Enum
from types import FrameType
from typing import Any

from pydantic import SecretStr

from credit_pipeline.errors import ConfigurationError
from credit_pipeline.settings import Settings

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Chatty at INFO; their warnings still show.
NOISY_LOGGERS = ("feast", "urllib3", "kafka", "aiokafka", "faust", "mode")


def add_process_commands(subparsers: Any) -> None:
    """Register `process` on the `credit-pipeline` sub-command parser."""
    parser = subparsers.add_parser(
        "process",
        help="run the stream processor: update topics -> online store (Feast) + offline store",
        description="Consume the update topics in consumer group CREDIT_CONSUMER_GROUP, write "
        "every micro-batch to the online store (Redis, through Feast) and the offline store "
        "(Postgres), dead-letter invalid events, then commit. Stops cleanly on SIGTERM/SIGINT.",
    )
    add_worker_arguments(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes in the consumer group (default 1; more than the topics' "
        "partitions leaves some idle); worker i serves metrics on CREDIT_METRICS_PORT + i",
    )
    parser.set_defaults(func=run_process)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between offset commits (default 2.8); acked events only are committed",
    )


def run_process(settings: Settings, args: argparse.Namespace) -> int:
    """Handler of `process`."""
    if args.workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, got {args.workers}")
    if args.workers == 1:
        return run_worker(settings, commit_interval=args.commit_interval)
    return supervise(settings, args.workers, commit_interval=args.commit_interval)


def run_worker(settings: Settings, *, commit_interval: float | None = None) -> int:
    """Run one faust worker in this process until SIGTERM/SIGINT; returns its exit code."""
    from faust import Worker

    from stream_processor.faust_app import build_app

    app = build_app(settings, commit_interval=commit_interval)
    app.runtime.preflight()  # registry and tables checked before faust starts
    # override_logging=False: keep the CLI's log format; quiet: no banner on stdout.
    worker = Worker(app, quiet=True, override_logging=False, redirect_stdouts=False)
    worker.spinner = None  # its terminal escapes would land in log files
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as CREDIT_* variables, so a child process rebuilds exactly these settings."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Enum):
            value = value.value
        env[f"CREDIT_{name.upper()}"] = str(value)
    return env


def worker_command(index: int, *, commit_interval: float | None = None) -> list[str]:
    command = [sys.executable, "-m", "stream_processor", "--worker-index", str(index)]
    if commit_interval is not None:
        command += ["--commit-interval", str(commit_interval)]
    return command


def supervise(settings: Settings, workers: int, *, commit_interval: float | None = None) -> int:
    """Start `workers` worker processes in one group, forward SIGINT/SIGTERM, wait for all."""
    children: list[subprocess.Popen[bytes]] = []
    for index in range(workers):
        port = settings.metrics_port + index if settings.metrics_port else 0
        child_settings = settings.model_copy(update={"metrics_port": port})
        # The parent's environment passes through (PATH, locale); the settings override it.
        env = {**os.environ, **settings_env(child_settings)}
        children.append(
            subprocess.Popen(worker_command(index, commit_interval=commit_interval), env=env)
        )
    log.info(
        "started %d workers in group %s (pids %s)",
        workers,
        settings.consumer_group,
        ", ".join(str(c.pid) for c in children),
    )

    def forward(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping %d workers", signal.Signals(signum).name, workers)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for index, code in enumerate(codes):
        if code:
            log.warning("worker %d exited with code %d", index, code)
    return next((code for code in codes if code), 0)


def configure_logging(verbose: bool = False, label: str | None = None) -> None:
    """The CLI's log format (stderr), optionally tagged with a worker label."""
    fmt = LOG_FORMAT if label is None else LOG_FORMAT.replace("%(name)s", f"[{label}] %(name)s")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
