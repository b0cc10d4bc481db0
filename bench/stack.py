"""The benchmark's own local stack: scratch state dir, free ports, removed at the end."""

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

from bench.procs import free_port
from core.console import Progress
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
    stack: LocalStack

    @property
    def logs(self) -> Path:
        path = self.root / "bench-logs"
        path.mkdir(exist_ok=True)
        return path

    def service_pids(self) -> dict[str, int]:
        """Pid of each server of the stack (kafka, redis, postgres) that runs now."""
        pids = {service.name: self.stack.pid_of(service.name) for service in self.stack.services}
        return {name: pid for name, pid in pids.items() if pid is not None}

    def isolated(self, tag: str, **changes: object) -> Settings:
        """Settings with their own topics and consumer group: one benchmark run sees only its
        own events (the stores are shared; event ids keep the runs apart)."""
        unique = f"{tag}-{uuid.uuid4().hex[:6]}"
        update = {"topic_prefix": f"{unique}-", "consumer_group": f"bench-{unique}", **changes}
        return self.settings.model_copy(update=update)


@contextmanager
def bench_stack(base: Settings, *, keep: bool = False) -> Iterator[BenchStack]:
    """Start Tansu, Valkey and Postgres on free ports in a new temp dir; stop them at the end."""
    root = scratch_state_dir("credit-bench-")
    settings = base.model_copy(
        update={
            "stack": StackMode.EMBEDDED,
            "state_dir": root / "state",
            "kafka_port": free_port(),
            "redis_port": free_port(),
            "postgres_port": free_port(),
            "model_dir": root / "models",
        }
    )
    stack = LocalStack(settings)
    try:
        stack.up(timeout=60)
        yield BenchStack(settings, root, stack)
    finally:
        stack.down()
        if keep:
            log.info("kept the benchmark's state and logs in %s", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


def load_history(stack: BenchStack, history: History) -> None:
    """Tables, history, Feast registry and a materialized online store (`init`, quietly)."""
    from credit_pipeline.init_store import run_init

    # Feast prints its materialization banner on stdout, where the report's table goes.
    with contextlib.redirect_stdout(io.StringIO()):
        run_init(stack.settings, history, Progress(total=3, stream=io.StringIO()))
