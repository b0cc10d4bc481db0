"""How long `credit-pipeline consistency` and `decisions replay` take over 10,000 logged
decisions.

On a scratch local stack (bench.stack): a synthetic history, a model trained on it, then
DECISIONS real decisions, scored as the API's runtime scores them (LoanScorer over Feast's
async online read, applications of the history's loans, each applicant several times) and
appended to the decision log as the processor appends them. Then, ROUNDS times, the report's
phases in this process (decision-log read, Feast store, point-in-time join, comparison), and
once the command itself in a fresh interpreter (what a user waits for, `import feast`
included). Every round must find 0 mismatches: the values were served from the same history.
Replay is timed the same way, beside its floor in the same run: the model's `explain` alone
over the same rows, prebuilt (what replay adds is reading the log and rebuilding the rows).
Every replay must reproduce every probability bit for bit.

    python -m bench.consistency [--decisions 10000] [--persons 3000] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench.stack import bench_stack, load_history
from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS, scoring_service
from core.decision_log import DecisionLogStore
from core.settings import REPO_ROOT, Settings, settings_env
from history import History, generate_history

_T = TypeVar("_T")
_APPEND_ROWS = 1_000  # records per INSERT: one statement of 10k JSON documents is ~30 MB


@dataclass(frozen=True)
class Figures:
    """Seconds per phase of each round, and the command's wall time."""

    decisions: int
    rounds: list[dict[str, float]]
    command_s: float

    def median(self, phase: str) -> float:
        return statistics.median(r[phase] for r in self.rounds)


def run(decisions: int = 10_000, persons: int = 3_000, rounds: int = 3, keep: bool = False) -> None:
    """Build the log on a scratch stack, time the report, print the figures."""
    with bench_stack(Settings(), keep=keep) as stack:
        settings = stack.settings
        _say(f"history of {persons:,} persons, model, {decisions:,} decisions ...")
        history = generate_history(persons=persons, zipcodes=500, seed=11)
        load_history(stack, history)
        model_dir = _train(settings, stack.root / "models")
        started = datetime.now(UTC)
        apps = _applications(history, decisions)
        records = asyncio.run(
            decide_records(settings, model_dir, apps, f"bench-{uuid.uuid4().hex[:8]}")
        )
        _append(settings, records)
        figures = _measure(settings, started, len(records), rounds)
        replay = _measure_replay(settings, model_dir, started, len(records), rounds)
    _print(figures)
    _print_replay(replay, len(records))


def _train(settings: Settings, model_dir: Path) -> Path:
    from training.train import train_model

    return train_model(settings, model_dir=model_dir).path.parent


def _applications(history: History, count: int) -> list[dict[str, Any]]:
    """`count` applications: the history's loans in turn, as JSON values."""
    names = [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]
    loans = history.loans[names].astype(object).where(history.loans[names].notna(), None)
    rows = [
        {n: (v.item() if hasattr(v, "item") else v) for n, v in zip(names, row, strict=True)}
        for row in loans.itertuples(index=False)
    ]
    return [rows[i % len(rows)] for i in range(count)]


async def decide_records(
    settings: Settings, model_dir: Path, apps: list[dict[str, Any]], tag: str
) -> list[dict[str, Any]]:
    """The records the API would log for `apps`, scored as its runtime scores them, with
    request ids `<tag>-<n>` (its 422s are not decisions, not logged). The consistency test
    uses it too."""
    from scoring_api.core.errors import FeaturesUnavailable
    from scoring_api.service.decision_log import decision_record
    from scoring_api.service.features import FeastFeatureSource, OnlineFeatureReader
    from scoring_api.service.model import ServedModel
    from scoring_api.service.scoring import LoanScorer
    from scoring_api.service.store import open_serving_store

    model = ServedModel.load(model_dir)
    store = open_serving_store(settings)
    await store.initialize()
    records = []
    try:
        source = FeastFeatureSource(store, model.feature_refs)
        scorer = LoanScorer(model, OnlineFeatureReader(source, 5.0))
        for number, application in enumerate(apps):
            try:
                decision = await scorer.score(application)
            except FeaturesUnavailable:
                continue
            rid = f"{tag}-{number}"
            records.append(decision_record(decision, application, rid, uuid.uuid4().hex))
    finally:
        await store.close()
    return records


def _append(settings: Settings, records: list[dict[str, Any]]) -> None:
    store = DecisionLogStore(settings)
    try:
        store.create_table()
        for start in range(0, len(records), _APPEND_ROWS):
            store.append(records[start : start + _APPEND_ROWS])
    finally:
        store.close()


def _measure(settings: Settings, since: datetime, decisions: int, rounds: int) -> Figures:
    measured = []
    for number in range(1, rounds + 1):
        phases = _round(settings, since, decisions)
        measured.append(phases)
        _say(f"round {number}: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
    return Figures(decisions, measured, _command(settings, since, decisions))


def _round(settings: Settings, since: datetime, decisions: int) -> dict[str, float]:
    """One report, phase by phase, as `consistency_report` composes it; 0 mismatches."""
    from core.feast_store import open_store
    from training.consistency import (
        compare_decisions,
        feature_precisions,
        offline_values,
        read_decisions,
        recorded_refs,
    )

    phases: dict[str, float] = {}
    records = _timed(phases, "read_log", lambda: read_decisions(settings, since=since))
    # Feast reads the registry on first use: that cost lands in the join.
    store = _timed(phases, "open_store", lambda: open_store(settings))
    service = scoring_service()
    precision = feature_precisions(service)
    refs = [ref for ref in recorded_refs(records) if ref in precision]
    offline = _timed(phases, "pit_join", lambda: offline_values(store, service, records, refs))
    report = _timed(phases, "compare", lambda: compare_decisions(records, offline, precision))
    phases["total"] = sum(phases.values())
    if report.decisions != decisions or report.mismatches:
        raise AssertionError(f"{report.decisions} decisions, {report.mismatches} mismatches")
    return phases


def _timed(phases: dict[str, float], name: str, call: Callable[[], _T]) -> _T:
    began = time.perf_counter()
    result = call()
    phases[name] = time.perf_counter() - began
    return result


def _command(settings: Settings, since: datetime, decisions: int) -> float:
    """Wall time of `credit-pipeline consistency --json` in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    env.update(settings_env(settings))
    argv = [sys.executable, "-m", "credit_pipeline.cli", "consistency", "--json"]
    began = time.perf_counter()
    done = subprocess.run(
        [*argv, "--since", since.isoformat()],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.perf_counter() - began
    if done.returncode != 0 or json.loads(done.stdout)["decisions"] != decisions:
        raise AssertionError(f"the command exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def _print(figures: Figures) -> None:
    phases = ("read_log", "open_store", "pit_join", "compare", "total")
    sys.stdout.write(
        f"consistency report over {figures.decisions:,} logged decisions "
        f"(median of {len(figures.rounds)} rounds, in process):\n"
    )
    for phase in phases:
        sys.stdout.write(f"  {phase:12}{figures.median(phase):8.2f} s\n")
    rate = figures.decisions / figures.median("total")
    sys.stdout.write(f"  = {rate:,.0f} decisions/s\n")
    sys.stdout.write(
        f"`credit-pipeline consistency --json`, fresh interpreter: {figures.command_s:.2f} s\n"
    )


def _measure_replay(
    settings: Settings, model_dir: Path, since: datetime, decisions: int, rounds: int
) -> dict[str, list[float]]:
    """Seconds per round: log read, replay of every record, and explain alone (the floor)."""
    from scoring_api.service.replay import Replayer

    replayer = Replayer(model_dir)
    times: dict[str, list[float]] = {"read_log": [], "replay": [], "explain_only": []}
    for number in range(1, rounds + 1):
        phases = _replay_round(settings, replayer, since, decisions)
        for name, seconds in phases.items():
            times[name].append(seconds)
        _say(f"replay round {number}: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
    return times


def _replay_round(
    settings: Settings, replayer: Any, since: datetime, decisions: int
) -> dict[str, float]:
    from scoring_api.service.replay import model_row

    phases: dict[str, float] = {}
    with DecisionLogStore(settings) as store:
        logged = _timed(phases, "read_log", lambda: store.select(since=since))
    replays = _timed(phases, "replay", lambda: replayer.replay_all(logged))
    if len(replays) != decisions or not all(r.identical for r in replays):
        raise AssertionError(f"{sum(not r.identical for r in replays)} replays differ")
    model = replayer.model(logged[0].model_version)
    rows = [model_row(model, d.record) for d in logged]
    _timed(phases, "explain_only", lambda: [model.explain(row) for row in rows])
    return phases


def _print_replay(times: dict[str, list[float]], count: int) -> None:
    replay, floor = statistics.median(times["replay"]), statistics.median(times["explain_only"])
    sys.stdout.write(
        f"decisions replay over {count:,} logged decisions (median of {len(times['replay'])} "
        "rounds, in process, every probability identical):\n"
        f"  read_log    {statistics.median(times['read_log']):8.2f} s\n"
        f"  replay      {replay:8.2f} s = {count / replay:,.0f} decisions/s\n"
        f"  baseline, explain alone on prebuilt rows: {floor:.2f} s = {count / floor:,.0f} "
        f"rows/s; replay / baseline {replay / floor:.2f}x\n"
    )


def _say(text: str) -> None:
    sys.stderr.write(f"[bench consistency] {text}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--persons", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch stack's files")
    args = parser.parse_args(argv)
    run(args.decisions, args.persons, args.rounds, args.keep)


if __name__ == "__main__":
    main()
