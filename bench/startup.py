"""Startup: how long everyday commands take, beside the interpreter and `import feast`.

Each command runs in a fresh interpreter, timed wall-clock from spawn to exit, `rounds` times
in interleaved order; the table shows medians. Baselines of the same run: `python -c pass`
(the floor every command pays) and `python -c "import feast"` (what every command paid
before the contract snapshot). `--against DIR` times the same commands with the code of
another checkout (e.g. a git worktree of an older commit) in the same run, for a before/after
table on one machine. `score` and `produce update` run against a scoring API that is up,
as a user runs them beside the demo. The import profile (`-X importtime`) lists what each
command of this checkout spends its imports on.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.procs import child_env
from bench.scoring import request_bodies
from bench.servers import start_api
from bench.stack import bench_stack, load_history
from core.settings import REPO_ROOT, Settings

Say = Callable[[str], None]

# The command line as the user types it, after `credit-pipeline`.
_CLI = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from credit_pipeline.cli import main; raise SystemExit(main(sys.argv[1:]))"
)
BASELINES = {"python -c pass": ["-c", "pass"], "python -c 'import feast'": ["-c", "import feast"]}


@dataclass
class StartupResult:
    rounds: int
    trees: dict[str, str]  # label -> checkout directory
    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # row -> tree -> s
    failures: list[str] = field(default_factory=list)
    imports: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def medians(self) -> dict[str, dict[str, float]]:
        return {
            row: {tree: statistics.median(samples) for tree, samples in by_tree.items() if samples}
            for row, by_tree in self.times.items()
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "trees": self.trees,
            "times_s": self.times,
            "medians_s": self.medians(),
            "import_profile_ms": {k: dict(v) for k, v in self.imports.items()},
            "errors": self.failures,
            "verified": not self.failures,
        }


def commands(application: dict[str, Any]) -> dict[str, list[str]]:
    """The measured commands (`credit-pipeline ...`), by row label, for one loan application."""
    fields = [f"--{k.replace('_', '-')}={v}" for k, v in application.items() if v is not None]
    return {
        "--help": ["--help"],
        "models": ["models"],
        "stack status": ["stack", "status"],
        "score (API up)": ["score", *fields],
        "produce update (API up)": [
            "produce",
            "update",
            f"--dob-ssn={application['dob_ssn']}",
            "--missed-payments-6m=0",
        ],
    }


def _time(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    return time.perf_counter() - started, done.returncode, done.stderr[-500:]


def import_profile(argv: list[str], env: dict[str, str], top: int = 6) -> list[tuple[str, float]]:
    """The `top` top-level imports by cumulative time (ms), from `python -X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _CLI, str(REPO_ROOT), *argv],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    totals: list[tuple[str, float]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if match and not match.group(2).startswith(" "):  # top level: no indentation
            totals.append((match.group(2), int(match.group(1)) / 1000))
    return sorted(totals, key=lambda item: -item[1])[:top]


def measure(
    settings: Settings,
    application: dict[str, Any],
    *,
    rounds: int,
    against: Sequence[Path] = (),
    say: Say,
) -> StartupResult:
    """Time every command of `commands()` in this checkout and in each of `against`."""
    trees = {"this checkout": REPO_ROOT, **{f"other: {p.name}": p for p in against}}
    result = StartupResult(rounds, {label: str(path) for label, path in trees.items()})
    env = child_env(settings)
    rows = commands(application)
    for label in [*BASELINES, *rows]:
        result.times[label] = {}
    for round_index in range(rounds):
        say(f"startup: round {round_index + 1} of {rounds}")
        for label, args in BASELINES.items():
            elapsed, code, err = _time([sys.executable, *args], env, REPO_ROOT)
            result.times[label].setdefault("baseline", []).append(elapsed)
        for label, args in rows.items():
            for tree, path in trees.items():
                argv = [sys.executable, "-c", _CLI, str(path), *args]
                elapsed, code, err = _time(argv, env, path)
                if code != 0:
                    result.failures.append(f"{label} ({tree}) exited {code}: {err.strip()}")
                    continue
                result.times[label].setdefault(tree, []).append(elapsed)
    for label, args in rows.items():
        result.imports[label] = import_profile(args, env)
    return result


def render(result: StartupResult) -> str:
    """The medians as a table: one column per checkout, and the ratio to the first."""
    medians = result.medians()
    trees = list(result.trees)
    feast = medians["python -c 'import feast'"]["baseline"]
    header = ["command", *trees]
    if len(trees) > 1:
        header.append("ratio")
    header.append("/ import feast")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for label, by_tree in medians.items():
        if "baseline" in by_tree:
            cells = [f"{by_tree['baseline']:.2f} s (baseline)"] + [""] * (len(trees) - 1)
            ratio = ""
            own = by_tree["baseline"]
        else:
            cells = [f"{by_tree[t]:.2f} s" if t in by_tree else "failed" for t in trees]
            own = by_tree.get(trees[0], float("nan"))
            ratio = (
                f"{own / by_tree[trees[1]]:.2f}x"
                if len(trees) > 1 and trees[1] in by_tree and trees[0] in by_tree
                else ""
            )
        row = [label, *cells]
        if len(trees) > 1:
            row.append(ratio)
        row.append(f"{own / feast:.2f}x")
        lines.append(" | ".join(row))
    lines.append("")
    lines.append(f"medians of {result.rounds} rounds; imports of this checkout (-X importtime):")
    for label, top in result.imports.items():
        shown = ", ".join(f"{name} {ms:.0f} ms" for name, ms in top)
        lines.append(f"  {label}: {shown}")
    return "\n".join(lines)


# A small history: the commands' cost does not depend on its size.
PERSONS, ZIPCODES = 2_000, 500


def run_startup(
    base: Settings, *, rounds: int, against: Sequence[Path], keep: bool, say: Say
) -> StartupResult:
    """A stack of its own with a trained model and the API up; then `measure`."""
    from history import generate_history
    from training.train import train_model

    with bench_stack(base, keep=keep) as stack:
        say(f"startup: stack up in {stack.root}; loading {PERSONS:,} persons, training")
        history = generate_history(persons=PERSONS, zipcodes=ZIPCODES)
        load_history(stack, history)
        model_dir = stack.root / "models"
        train_model(stack.settings, model_dir=model_dir)
        # `score` asks the API for a decision; `produce update` reads the current value through
        # it (features:read). Both find the key in CREDIT_API_KEY, as a user's shell gives it.
        api = start_api(stack.settings, model_dir, stack.logs, None, ("score", "features:read"))
        try:
            key = api.headers["Authorization"].removeprefix("Bearer ")
            settings = stack.settings.model_copy(
                update={"api_port": api.port, "api_key": SecretStr(key)}
            )
            (body,), _ = request_bodies(history, 1)  # one applicant, as the scoring bench sends
            application = json.loads(body)
            return measure(settings, application, rounds=rounds, against=against, say=say)
        finally:
            api.stop()
