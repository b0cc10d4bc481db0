"""Load drivers of the scoring part: the Python open-loop generator and wrk's closed loop."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import ScoringConfig
from bench.errors import BenchError
from bench.procs import ChildProcess, child_env
from bench.servers import (
    Server,
    cpu_prefix,
)
from bench.stack import BenchStack
from bench.stats import latency_summary, percentile
from bench.wrk import run_wrk, wrk_path


def python_load(
    stack: BenchStack,
    server: Server,
    bodies: Path,
    mode: str,
    config: ScoringConfig,
    seconds: float,
) -> dict[str, Any]:
    out = stack.root / "scoring" / f"{server.name}-{mode}.json"
    argv = [
        *cpu_prefix(config.loadgen_cpus),
        sys.executable,
        "-m",
        "bench.loadgen",
        mode,
        server.url,
        str(bodies),
        str(out),
        "--seconds",
        str(seconds),
        "--rate",
        str(config.rate),
        "--connections",
        str(config.connections),
        "--method",
        server.method,
    ]
    env = child_env(stack.settings, **server.load_env())  # the key: not on the command line
    child = ChildProcess("load generator", argv, env, stack.logs / "loadgen.log")
    try:
        code = child.wait_exit(seconds + 60)
    finally:
        child.stop()
    if code != 0:
        raise BenchError(f"the load generator exited with {code}:\n{child.log_tail()}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def from_python(server: str, mode: str, round_no: int, raw: dict[str, Any]) -> LoadRun:
    statuses: dict[str, int] = raw["statuses"]
    bad = {f"HTTP {k}": v for k, v in statuses.items() if not k.startswith("2")}
    detail = {**bad, **raw["errors"]}
    latencies = raw["latencies_ms"]
    return LoadRun(
        server=server,
        mode=mode,
        round=round_no,
        generator="python-aiohttp",
        requests=len(latencies),
        requests_per_s=len(latencies) / raw["elapsed_s"],
        latency_ms=latency_summary(latencies),
        errors=sum(detail.values()),
        error_detail=detail,
        generator_lag_p99_ms=percentile(raw["lag_ms"], 99) if raw["lag_ms"] else None,
    )


def closed(
    stack: BenchStack, server: Server, bodies: Path, config: ScoringConfig, round_no: int
) -> LoadRun:
    if wrk_path() is None:
        raw = python_load(stack, server, bodies, "closed", config, config.closed_seconds)
        return from_python(server.name, "closed", round_no, raw)
    work = stack.root / "scoring"
    raw = run_wrk(
        server.url,
        bodies,
        config.closed_seconds,
        config.connections,
        cpu_prefix(config.loadgen_cpus),
        work,
        env=server.load_env(),
    )
    return LoadRun(
        server=server.name,
        mode="closed",
        round=round_no,
        generator="wrk",
        requests=raw["requests"],
        requests_per_s=raw["requests"] / raw["elapsed_s"],
        latency_ms=raw["latency_ms"],
        errors=sum(raw["errors"].values()),
        error_detail=raw["errors"],
    )


@dataclass
class LoadRun:
    """One load run against one server."""

    server: str
    mode: str  # "fixed" or "closed"
    round: int
    generator: str
    requests: int
    requests_per_s: float
    latency_ms: dict[str, float | None]
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)
    generator_lag_p99_ms: float | None = None
    cores: dict[str, float] = field(default_factory=dict)  # server, Valkey, others (generator)
