"""The benchmark's stack: its own local one (scratch state dir, free ports, removed at the end),
or the services the settings point at (`--stack external`), neither started nor stopped."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from core.console import Progress
from core.ports import free_ports
from core.settings import Settings, StackMode
from history import History
from local_stack import LocalStack
from local_stack.sysuser import scratch_state_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchStack:
    """Settings of the running scratch stack, and where its files and logs go."""

    settings: Settings
    root: Path
    stack: LocalStack | None  # None: external services, not ours to start, stop or measure

    @property
    def logs(self) -> Path:
        path = self.root / "bench-logs"
        path.mkdir(exist_ok=True)
        return path

    def service_pids(self) -> dict[str, int]:
        """Pid of each server of the stack (kafka, redis, postgres) that runs now; none for an
        external stack (its processes are not ours to measure)."""
        if self.stack is None:
            return {}
        pids = {service.name: self.stack.pid_of(service.name) for service in self.stack.services}
        return {name: pid for name, pid in pids.items() if pid is not None}

    def isolated(self, tag: str, **changes: object) -> Settings:
        """Settings with their own topics and consumer group: one benchmark run sees only its
        own events (the stores are shared; event ids keep the runs apart)."""
        unique = f"{tag}-{uuid.uuid4().hex[:6]}"
        update = {"topic_prefix": f"{unique}-", "consumer_group": f"bench-{unique}", **changes}
        return self.settings.model_copy(update=update)


@contextmanager
def bench_stack(
    base: Settings, *, external: bool = False, keep: bool = False
) -> Iterator[BenchStack]:
    """Start Tansu, Valkey and Postgres on free ports in a new temp dir; stop them at the end.

    `external`: the services `base` points at, as they are; only the temp dir (logs, specs,
    the bench's model) is the benchmark's own.
    """
    root = scratch_state_dir("credit-bench-")
    if external:
        try:
            yield BenchStack(base.model_copy(update=_scratch(root, StackMode.EXTERNAL)), root, None)
        finally:
            _remove(root, keep)
        return
    kafka, redis, postgres = free_ports(3)
    ports = {"kafka_port": kafka, "redis_port": redis, "postgres_port": postgres}
    settings = base.model_copy(update={**_scratch(root, StackMode.EMBEDDED), **ports})
    stack = LocalStack(settings)
    try:
        stack.up(timeout=60)
        yield BenchStack(settings, root, stack)
    finally:
        stack.down()
        _remove(root, keep)


def _scratch(root: Path, mode: StackMode) -> dict[str, object]:
    return {"stack": mode, "state_dir": root / "state", "model_dir": root / "models"}


def _remove(root: Path, keep: bool) -> None:
    if keep:
        log.info("kept the benchmark's state and logs in %s", root)
    else:
        shutil.rmtree(root, ignore_errors=True)


def prepare_external(stack: BenchStack, *, scoring: bool) -> None:
    """On an external stack: the offline tables and the Feast registry entries, only where
    missing (`CREATE ... IF NOT EXISTS`, an idempotent `feast apply`). Nothing is loaded,
    materialized, deleted or truncated: the data there stays as it is. The scoring part trains
    on the loans there, so it needs some."""
    from core.contract import LOAN_TABLE
    from core.feast_store import apply_definitions, open_store
    from core.offline_store import PostgresOfflineWriter

    with PostgresOfflineWriter(stack.settings) as writer:
        writer.create_tables()
        loans = writer.count(LOAN_TABLE)
    if scoring and not loans:
        raise BenchError(
            f"the offline store at {stack.settings.postgres_url_masked} holds no loans to train "
            "the scoring part's model on: run `credit-pipeline init` against it first, or leave "
            "scoring out"
        )
    apply_definitions(open_store(stack.settings))


def load_history(stack: BenchStack, history: History) -> None:
    """Tables, history, Feast registry and a materialized online store (`init`, quietly)."""
    from credit_pipeline.init_store import run_init

    # Feast prints its materialization banner on stdout, where the report's table goes.
    with contextlib.redirect_stdout(io.StringIO()):
        run_init(stack.settings, history, Progress(total=3, stream=io.StringIO()))
