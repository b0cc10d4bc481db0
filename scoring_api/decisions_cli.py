"""`credit-pipeline decisions show|replay`: the decision log, read back and recomputed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli_options import Subcommands
from core.errors import CreditPipelineError
from core.settings import Settings
from core.since import parse_since

if TYPE_CHECKING:
    from core.decision_log import LoggedDecision
    from scoring_api.service.replay import Replay

EXIT_DIFFERENT = 1
_EXAMPLES_SHOWN = 10


class DecisionLogError(CreditPipelineError):
    """The decision log cannot be read, or holds nothing for the request."""


def add_decisions_commands(subcommands: Subcommands) -> None:
    decisions = subcommands.add_parser(
        "decisions", help="show or replay logged loan decisions (the decision log)"
    )
    sub = decisions.add_subparsers(dest="decisions_command", required=True, metavar="ACTION")

    show = sub.add_parser("show", help="print one logged decision with its reasons and inputs")
    show.add_argument("request_id", metavar="REQUEST_ID")
    show.add_argument("--json", action="store_true", help="print the logged record as JSON")
    show.add_argument(
        "--unmasked", action="store_true", help="print the dob_ssn in clear (masked by default)"
    )
    show.set_defaults(func=run_show)

    replay = sub.add_parser(
        "replay",
        help="recompute logged decisions from their logged inputs and report differences",
        description="With no --model-version, each decision is recomputed with the model "
        "version that made it: the probabilities must be identical to the bit (exit 1 if "
        "not). With --model-version, every decision is recomputed with that version: what "
        "it would have decided.",
    )
    replay.add_argument("request_id", nargs="?", metavar="REQUEST_ID", help="one decision")
    replay.add_argument(
        "--since", type=parse_since, help="decisions from this time on (ISO time, or 30m, 2h, 7d)"
    )
    replay.add_argument("--model-version", help="replay with this version instead")
    replay.add_argument("--model-dir", type=Path, help="artifact directory")
    replay.add_argument("--limit", type=int, help="at most this many decisions, oldest first")
    replay.add_argument("--json", action="store_true", help="print the report as JSON")
    replay.set_defaults(func=run_replay)


def _store(settings: Settings) -> Any:
    from core.decision_log import DecisionLogStore

    store = DecisionLogStore(settings)
    store.create_table()  # an empty log reads as empty, not as an error
    return store


# -- show -------------------------------------------------------------------------------------


def run_show(settings: Settings, args: argparse.Namespace) -> int:
    with _store(settings) as store:
        found: list[LoggedDecision] = store.get(args.request_id)
    if not found:
        raise DecisionLogError(
            f"no decision logged under request id {args.request_id!r} (a decision reaches the "
            "log a moment after its answer; is the stream processor running?)"
        )
    for logged in found:
        record = ordered(logged.record) if args.unmasked else masked(logged.record)
        if args.json:
            sys.stdout.write(json.dumps(record, indent=2) + "\n")
        else:
            sys.stdout.write(render(record) + "\n")
    return 0


def masked(record: dict[str, Any]) -> dict[str, Any]:
    """The record with every sensitive entity key masked, fields in the record's own order
    (Postgres jsonb keeps its own)."""
    from core.contract import ENTITY_KEYS

    application = {
        name: ENTITY_KEYS[name].mask(value)
        if name in ENTITY_KEYS and ENTITY_KEYS[name].sensitive
        else value
        for name, value in record["application"].items()
    }
    return ordered({**record, "application": application})


def ordered(record: dict[str, Any]) -> dict[str, Any]:
    """The record's fields in the order of the format (core/decision_log.py), then the rest."""
    from core.decision_log import REQUIRED_FIELDS

    first = {name: record[name] for name in REQUIRED_FIELDS if name in record}
    return first | {name: value for name, value in record.items() if name not in first}


def render(record: dict[str, Any]) -> str:
    """A logged decision for a person: outcome, reasons, application, features as served."""
    p, threshold = record["p_default"], record["threshold"]
    lines = [
        f"request {record['request_id']} (decision {record['decision_id']})",
        f"  {record['decision'].upper()}: P(default) {p:.4f} "
        f"{'>=' if p >= threshold else '<'} threshold {threshold:.4f}",
        f"  decided at {record['decided_at']} by model {record['model_version']}",
        f"  margin {record['margin']:+.4f} = base {record['base_margin']:+.4f} + contributions",
        "  reasons (towards default):" if record["reasons"] else "  reasons: none",
    ]
    for reason in record["reasons"]:
        lines.append(f"    {reason['contribution']:+.3f}  {reason['phrase']}")
    lines.append("  application:")
    lines += [f"    {name} = {value}" for name, value in record["application"].items()]
    for view, served in record["features"].items():
        stamp = served["event_timestamp"] or "-"
        lines.append(f"  {view}: {served['status']}, event time {stamp}")
        lines += [f"    {name} = {value}" for name, value in served["values"].items()]
    for warning in record.get("warnings") or []:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


# -- replay -----------------------------------------------------------------------------------


def run_replay(settings: Settings, args: argparse.Namespace) -> int:
    from scoring_api.service.replay import Replayer

    with _store(settings) as store:
        if args.request_id:
            logged = store.get(args.request_id)
        else:
            logged = store.select(since=args.since, limit=args.limit)
    if not logged:
        what = f"request id {args.request_id!r}" if args.request_id else "that window"
        raise DecisionLogError(f"no decision logged for {what}")
    replayer = Replayer(args.model_dir or settings.model_path, args.model_version)
    for version in {args.model_version or d.model_version for d in logged}:
        replayer.model(version)  # loaded (and self-checked) before the clock starts
    started = time.perf_counter()
    replays = replayer.replay_all(logged)
    seconds = time.perf_counter() - started
    report = replay_report(replays, seconds, against=args.model_version)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(render_replay(report) + "\n")
    if args.model_version is None and report["different"]:
        return EXIT_DIFFERENT
    return 0


def replay_report(replays: list[Replay], seconds: float, against: str | None) -> dict[str, Any]:
    """Counts, rate and the first differences of a replay."""
    different = [r for r in replays if not r.identical]
    return {
        "replayed": len(replays),
        "model_version": against,  # None: each decision's own version
        "identical": len(replays) - len(different),
        "different": len(different),
        "decision_changed": sum(r.decision_changed for r in replays),
        "not_replayable": sum(r.error is not None for r in replays),
        "seconds": round(seconds, 4),
        "decisions_per_second": round(len(replays) / seconds) if seconds > 0 else None,
        "examples": [
            {
                "request_id": r.request_id,
                "decision_id": r.decision_id,
                "logged": {
                    "model_version": r.logged_version,
                    "p_default": r.logged_p,
                    "decision": r.logged_decision,
                },
                "replayed": {
                    "model_version": r.version,
                    "p_default": r.p_default,
                    "decision": r.decision,
                },
                "error": r.error,
            }
            for r in different[:_EXAMPLES_SHOWN]
        ],
    }


def render_replay(report: dict[str, Any]) -> str:
    version = report["model_version"] or "each decision's own model version"
    lines = [
        f"replayed {report['replayed']:,} decisions with {version} in {report['seconds']:.2f} s "
        f"({report['decisions_per_second'] or 0:,} decisions/s)",
        f"  identical probability (bit for bit): {report['identical']:,}",
        f"  different: {report['different']:,} (decision changed: "
        f"{report['decision_changed']:,}; not replayable: {report['not_replayable']:,})",
    ]
    for example in report["examples"]:
        logged, replayed = example["logged"], example["replayed"]
        if example["error"]:
            lines.append(f"  {example['request_id']}: {example['error']}")
            continue
        lines.append(
            f"  {example['request_id']}: {logged['decision']} {logged['p_default']!r} "
            f"({logged['model_version']}) -> {replayed['decision']} {replayed['p_default']!r} "
            f"({replayed['model_version']})"
        )
    return "\n".join(lines)
