"""`credit-pipeline process [--workers N]`: one worker here, or N worker processes in one group."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from core.errors import ConfigurationError
from core.settings import Settings, settings_env
from core.supervisor import ChildProcess, RestartPolicy, describe_exit

log = logging.getLogger(__name__)


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


def worker_command(index: int, *, commit_interval: float | None = None) -> list[str]:
    command = [sys.executable, "-m", "stream_processor", "--worker-index", str(index)]
    if commit_interval is not None:
        command += ["--commit-interval", str(commit_interval)]
    return command


# A worker that exits on its own is restarted after a pause that doubles each time; one that
# exits this often within the window is broken, and the group stops rather than flap.
RESTART_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
MAX_EXITS = 5
EXIT_WINDOW_SECONDS = 300.0
# Exit status 2 means bad settings or arguments: restarting would only fail again.
EXIT_CONFIGURATION = 2
POLL_SECONDS = 0.2


def _restart_policy() -> RestartPolicy:
    return RestartPolicy(
        delays=RESTART_DELAYS,
        max_exits=MAX_EXITS,
        window=EXIT_WINDOW_SECONDS,
        fatal_codes=frozenset({EXIT_CONFIGURATION}),
    )


@dataclass
class WorkerSlot:
    """One worker of the group: its process, and when it exited lately."""

    index: int
    command: list[str]
    env: dict[str, str]
    child: ChildProcess | None = None
    restarts: RestartPolicy = field(default_factory=_restart_policy)
    restart_at: float | None = None

    def start(self) -> ChildProcess:
        # In our process group, its output on our stderr: a signal to the group (a terminal's
        # Ctrl-C, a kill of the whole group) reaches every worker, and its log lines are ours.
        name = f"worker {self.index}"
        self.child = ChildProcess(name, self.command, env=self.env, new_session=False).start()
        self.restart_at = None
        return self.child

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.is_running()


def supervise(settings: Settings, workers: int, *, commit_interval: float | None = None) -> int:
    """Run `workers` worker processes in one group until SIGINT/SIGTERM (forwarded to all).

    A worker that exits meanwhile is reaped and logged at once; Kafka hands its partitions to
    the others, and it is restarted after a pause. Bad settings (exit 2), or a worker that
    exits MAX_EXITS times within EXIT_WINDOW_SECONDS, stop the whole group instead.
    """
    from stream_processor.metrics import metrics_port

    slots: list[WorkerSlot] = []
    for index in range(workers):
        # Chosen here (each child then binds exactly it): a taken default moves to a free port.
        child_settings = settings.model_copy(
            update={"metrics_port": metrics_port(settings, offset=index)}
        )
        # The parent's environment passes through (PATH, locale); the settings override it.
        env = {**os.environ, **settings_env(child_settings)}
        slots.append(WorkerSlot(index, worker_command(index, commit_interval=commit_interval), env))
    pids = ", ".join(str(slot.start().pid) for slot in slots)
    log.info("started %d workers in group %s (pids %s)", workers, settings.consumer_group, pids)
    stopping: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if not stopping:
            log.info("%s: stopping %d workers", signal.Signals(signum).name, workers)
        stopping.append(signum)
        for slot in slots:
            if slot.running and slot.child is not None:
                slot.child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        failure = _watch(slots, stopping)
        if failure is not None and not stopping:
            forward(signal.SIGTERM, None)
        for slot in slots:
            if slot.child is not None:
                code = slot.child.wait()
                # A worker still starting when the signal came dies of it: a normal stop.
                if stopping and code == -stopping[0]:
                    code = 0
                if code and failure is None:
                    log.warning("worker %d %s", slot.index, describe_exit(code))
                    failure = code if code > 0 else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return failure or 0


def _watch(slots: list[WorkerSlot], stopping: list[int]) -> int | None:
    """Reap, log and restart workers until a stop signal; an exit status ends the group."""
    while not stopping:
        now = time.monotonic()
        for slot in slots:
            code = slot.child.poll() if slot.child is not None else None
            if code is None:
                if slot.restart_at is not None and now >= slot.restart_at and not stopping:
                    child = slot.start()
                    log.info("worker %d restarted (pid %d)", slot.index, child.pid)
                continue
            slot.child = None
            delay = slot.restarts.record_exit(code, now)
            if code == EXIT_CONFIGURATION:
                log.error(
                    "worker %d %s (bad settings): stopping the group",
                    slot.index,
                    describe_exit(code),
                )
                return code
            if delay is None:
                log.error(
                    "worker %d %s, its %d exit within %.0f s: stopping the group",
                    slot.index,
                    describe_exit(code),
                    len(slot.restarts.exits),
                    EXIT_WINDOW_SECONDS,
                )
                return code if code > 0 else 1
            slot.restart_at = now + delay
            log.warning(
                "worker %d %s; its partitions go to the other workers, restarting it in %.0f s",
                slot.index,
                describe_exit(code),
                delay,
            )
        time.sleep(POLL_SECONDS)
    return None
