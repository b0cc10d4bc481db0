"""Scoring: the API under fixed-rate and closed-loop load, beside `feast serve` (same entities).

Two more servers are baselines of the API's own parts: the same API with the decision log off
(what logging costs), and the same API reading through Feast's `get_online_features_async`
instead of its direct Redis read (what that read saves). The servers run one worker pinned to
one CPU, the load generator runs pinned to the other (taskset); Valkey floats. Fixed rate uses
the open-loop generator (`bench.loadgen`, latency from each request's scheduled time); closed
loop uses wrk when it is installed. The API gets loan applications of the history; `feast
serve` gets the same applicants' entity keys and the model's feature references (features
only, no model).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.config import ScoringConfig
from bench.cpu import CpuSnapshot
from bench.memory import MemoryMonitor
from bench.profiling import profiled
from bench.scoring_load import LoadRun, closed, from_python, python_load
from bench.servers import (
    Server,
    cpu_prefix,
    health_floor,
    pin_threads,
    start_api,
    start_feast_server,
    unpin_threads,
)
from bench.stack import BenchStack
from bench.stats import median, ratio
from bench.wrk import INSTALL_HINT, wrk_path
from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS, scoring_feature_refs
from core.settings import OnlineReaderKind
from history import History

Say = Callable[[str], None]


@dataclass
class ScoringResult:
    """Every run, the median figures per server and mode, and API / feast-serve ratios."""

    config: dict[str, Any]
    servers: dict[str, str]
    placement: str
    closed_loop_generator: str
    runs: list[LoadRun]
    medians: dict[str, dict[str, float | None]]
    ratios: dict[str, float | None]
    errors: list[str]
    profile: dict[str, Any] | None = None  # py-spy of the API, from an extra closed-loop run

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verified": not self.errors}


NO_LOG = "api-no-decision-log"
FEAST_READER = "api-feast-reader"


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python value; NaN as None (JSON has no NaN)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def request_bodies(history: History, count: int, seed: int = 5) -> tuple[list[str], list[str]]:
    """(API bodies, feast-serve bodies) for the same applicants, one JSON document each."""
    loans = history.loans
    rows = loans.sample(n=min(count, len(loans)), random_state=random.Random(seed).randrange(2**31))
    names = [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]
    refs = scoring_feature_refs()
    api, feast = [], []
    for _, loan in rows.iterrows():
        body = {name: _plain(loan[name]) for name in names}
        api.append(json.dumps(body))
        entities = {name: [body[name]] for name in ENTITY_KEYS}
        feast.append(
            json.dumps({"features": refs, "entities": entities, "full_feature_names": True})
        )
    return api, feast


def run_scoring(
    stack: BenchStack,
    history: History,
    model_dir: Path,
    config: ScoringConfig,
    monitor: MemoryMonitor,
    say: Say,
    profile: bool = False,
) -> ScoringResult:
    """Start both servers, check one answer of each, then load them in interleaved runs."""
    work = stack.root / "scoring"
    work.mkdir(exist_ok=True)
    api_bodies, feast_bodies = request_bodies(history, config.applicants)
    files = {"scoring-api": work / "api.jsonl", "feast-serve": work / "feast.jsonl"}
    files["scoring-api"].write_text("\n".join(api_bodies) + "\n")
    files["feast-serve"].write_text("\n".join(feast_bodies) + "\n")
    servers: list[Server] = []
    runs: list[LoadRun] = []
    errors: list[str] = []
    profile_json: dict[str, Any] | None = None
    redis_pid = stack.service_pids().get("redis")
    redis_cpus: set[int] | None = None
    closed_gen = "wrk" if wrk_path() else f"python-aiohttp (wrk not found: {INSTALL_HINT})"
    try:
        say("scoring: starting the API and feast serve")
        servers.append(start_api(stack.settings, model_dir, stack.logs, config.server_cpus))
        monitor.watch("scoring-api", servers[-1].child.pid)
        servers.append(start_feast_server(stack.settings, stack.logs, config.server_cpus))
        monitor.watch("feast-serve", servers[-1].child.pid)
        errors += _check_answers(servers, api_bodies[0], feast_bodies[0])
        # The same API with the decision log off: what publishing each decision costs.
        unlogged = stack.settings.model_copy(update={"decision_log": False})
        servers.append(start_api(unlogged, model_dir, stack.logs, config.server_cpus, name=NO_LOG))
        monitor.watch(NO_LOG, servers[-1].child.pid)
        files[NO_LOG] = files["scoring-api"]
        # The same API reading through Feast's get_online_features_async: what the direct
        # Redis read saves.
        feast_read = stack.settings.model_copy(update={"online_reader": OnlineReaderKind.FEAST})
        servers.append(
            start_api(feast_read, model_dir, stack.logs, config.server_cpus, name=FEAST_READER)
        )
        monitor.watch(FEAST_READER, servers[-1].child.pid)
        files[FEAST_READER] = files["scoring-api"]
        floor = health_floor(servers[0])
        files[floor.name] = files["scoring-api"]  # bodies are not sent with GET
        if redis_pid is not None:
            # Server side on one core (worker + Valkey), the load generator on the other.
            redis_cpus = pin_threads(redis_pid, config.server_cpus)
        for server in servers:  # connections, caches, first reads: not measured
            python_load(stack, server, files[server.name], "open", config, config.warmup_seconds)
        for round_no in range(1, config.rounds + 1):
            for server in [*servers, floor]:
                say(
                    f"scoring round {round_no}: {server.name} at {config.rate:.0f} req/s "
                    f"for {config.fixed_seconds:.0f} s"
                )
                cpu = _cpu(stack, server)
                raw = python_load(
                    stack, server, files[server.name], "open", config, config.fixed_seconds
                )
                runs.append(from_python(server.name, "fixed", round_no, raw))
                runs[-1].cores = _cpu(stack, server).cores_since(cpu)
            for server in servers:
                say(
                    f"scoring round {round_no}: {server.name} closed loop, "
                    f"{config.connections} connections for {config.closed_seconds:.0f} s"
                )
                cpu = _cpu(stack, server)
                runs.append(closed(stack, server, files[server.name], config, round_no))
                runs[-1].cores = _cpu(stack, server).cores_since(cpu)
        if profile:
            api = servers[0]
            say("profiling: the API under closed-loop load with py-spy (not measured)")
            with profiled(api.child.pid, api.name, work / "profile-api.txt") as prof:
                closed(stack, api, files[api.name], config, 0)
            profile_json = prof.to_json()
    finally:
        for server in servers:
            monitor.unwatch(server.name)
            server.stop()
        if redis_pid is not None and redis_cpus is not None:
            unpin_threads(redis_pid, redis_cpus)
    for run in runs:
        if run.errors:
            errors.append(f"{run.server} {run.mode}: {run.errors} errors {run.error_detail}")
    medians = _medians(runs)
    return ScoringResult(
        config=asdict(config),
        servers={s.name: s.description for s in servers},
        placement=_placement(config),
        closed_loop_generator=closed_gen,
        runs=runs,
        medians=medians,
        ratios=_ratios(medians),
        errors=errors,
        profile=profile_json,
    )


def _cpu(stack: BenchStack, server: Server) -> CpuSnapshot:
    """CPU of the loaded server and Valkey; the generator shows under `others`."""
    redis = stack.service_pids().get("redis")
    trees = {server.name: server.child.pid, **({"redis": redis} if redis else {})}
    return CpuSnapshot.take(trees, {"bench": os.getpid()})


def _placement(config: ScoringConfig) -> str:
    if not cpu_prefix(config.server_cpus):
        return "not pinned (taskset not found): servers, generator and stores share all CPUs"
    return (
        f"server side on CPU {config.server_cpus} (the server's worker and Valkey, taskset), "
        f"load generator on CPU {config.loadgen_cpus}; the idle Tansu and Postgres unpinned"
    )


def _check_answers(servers: list[Server], api_body: str, feast_body: str) -> list[str]:
    """One request to each server must be a real answer, not an error page."""
    problems = []
    api, feast = servers[:2]
    status, body = api.post(api_body.encode())
    if status != 200 or body.get("decision") not in ("approved", "rejected"):
        problems.append(f"scoring API answered {status}: {str(body)[:300]}")
    status, body = feast.post(feast_body.encode())
    values = [r.get("values", [None])[0] for r in (body or {}).get("results", [])]
    if status != 200 or not any(v is not None for v in values[2:]):
        problems.append(f"feast serve answered {status} without feature values: {str(body)[:300]}")
    return problems


def _medians(runs: list[LoadRun]) -> dict[str, dict[str, float | None]]:
    """Per server: fixed-rate percentiles and closed-loop req/s, medians over rounds."""
    out: dict[str, dict[str, float | None]] = {}
    for server in dict.fromkeys(r.server for r in runs):
        fixed = [r for r in runs if r.server == server and r.mode == "fixed"]
        closed = [r for r in runs if r.server == server and r.mode == "closed"]
        figures: dict[str, float | None] = {}
        for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            figures[f"fixed_{key}"] = median(
                [v for r in fixed if (v := r.latency_ms[key]) is not None]
            )
            figures[f"closed_{key}"] = median(
                [v for r in closed if (v := r.latency_ms[key]) is not None]
            )
        figures["fixed_rps"] = median([r.requests_per_s for r in fixed])
        figures["closed_rps"] = median([r.requests_per_s for r in closed])
        figures["errors"] = float(sum(r.errors for r in fixed + closed))
        out[server] = figures
    return out


def _ratios(medians: dict[str, dict[str, float | None]]) -> dict[str, float | None]:
    api, feast = medians.get("scoring-api", {}), medians.get("feast-serve", {})
    floor = medians.get("api-healthz", {})
    ratios = {
        f"scoring-api / feast-serve {key}": ratio(api.get(key), feast.get(key))
        for key in ("fixed_p50_ms", "fixed_p99_ms", "closed_rps")
    }
    for baseline in (NO_LOG, FEAST_READER):
        other = medians.get(baseline, {})
        for key in ("fixed_p50_ms", "fixed_p99_ms", "closed_rps"):
            ratios[f"scoring-api / {baseline} {key}"] = ratio(api.get(key), other.get(key))
    for key in ("fixed_p50_ms", "fixed_p99_ms"):
        ratios[f"scoring-api / api-healthz {key}"] = ratio(api.get(key), floor.get(key))
    return ratios
