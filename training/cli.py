"""`credit-pipeline train`: train on the offline store and save a new model version.
`credit-pipeline consistency`: served feature values against the offline store's."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import CreditPipelineError
from core.model.metadata import DEFAULT_TEST_FRACTION
from core.settings import Settings
from core.since import parse_since

_METRIC_ORDER = ("roc_auc", "accuracy", "approval_rate", "default_rate_approved")
_MODEL_DIR_HELP = "artifact directory (default <state_dir>/models)"
DEFAULT_SINCE = "1d"
# `consistency` exit codes: 2 is also argparse's for a bad option.
EXIT_CONSISTENT, EXIT_MISMATCHES, EXIT_NO_REPORT = 0, 1, 2


def add_train_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `train`, `models` (the saved versions) and `consistency`."""
    train = subparsers.add_parser(
        "train",
        help="train the loan-default model on the offline store and save a new version",
        description="Point-in-time join of the loan table with the scoring FeatureService, "
        "fit on the earlier loans, evaluate on the latest ones, save a versioned artifact.",
    )
    train.add_argument("--model-dir", type=Path, help=_MODEL_DIR_HELP)
    train.add_argument(
        "--test-fraction",
        type=float,
        default=DEFAULT_TEST_FRACTION,
        help=f"latest share of loans held out for evaluation (default {DEFAULT_TEST_FRACTION})",
    )
    train.add_argument(
        "--threshold",
        type=float,
        help="reject when P(default) >= THRESHOLD; stored in the artifact "
        "(default CREDIT_DECISION_THRESHOLD, 0.5)",
    )
    train.set_defaults(func=run_train)

    models = subparsers.add_parser("models", help="list the saved model versions")
    models.add_argument("--model-dir", type=Path, help=_MODEL_DIR_HELP)
    models.set_defaults(func=run_models)

    consistency = subparsers.add_parser(
        "consistency",
        help="compare the logged decisions' served feature values with the offline store",
        description="For every decision logged in the window, the point-in-time join of the "
        "training frame for the same entity keys at the decision's time, compared value by "
        "value with what the API served (docs/consistency.md). Exit status: 0 no mismatch, "
        "1 mismatches found, 2 no report (no decisions in the window, a store unreachable).",
    )
    consistency.add_argument(
        "--since",
        type=parse_since,
        default=DEFAULT_SINCE,
        metavar="WHEN",
        help="decisions from WHEN on: a duration back from now (30m, 1h, 2d) or an ISO time "
        f"(UTC when it has no zone; default {DEFAULT_SINCE})",
    )
    consistency.add_argument(
        "--limit", type=int, metavar="N", help="only the newest N decisions of the window"
    )
    consistency.add_argument(
        "--examples",
        type=int,
        default=3,
        metavar="N",
        help="mismatches shown per feature (default 3)",
    )
    consistency.add_argument(
        "--json", action="store_true", help="the report as JSON instead of a table"
    )
    consistency.set_defaults(func=run_consistency)


def run_train(settings: Settings, args: argparse.Namespace) -> int:
    from training.train import train_model

    result = train_model(
        settings,
        model_dir=args.model_dir,
        test_fraction=args.test_fraction,
        threshold=args.threshold,
    )
    meta = result.metadata
    out = sys.stdout
    out.write(f"model {meta.version} saved to {result.path}\n")
    out.write(
        f"  {meta.rows:,} loans {meta.training_window.start:%Y-%m-%d} .. "
        f"{meta.training_window.end:%Y-%m-%d}; train {meta.train.rows:,}, "
        f"test {meta.test.rows:,} (from {meta.test.start:%Y-%m-%d %H:%M})\n"
    )
    out.write(f"  holdout, reject when P(default) >= {meta.decision_threshold}:\n")
    out.write(f"  {'':15}" + "".join(f"{m:>22}" for m in _METRIC_ORDER) + "\n")
    for name, values in meta.metrics.items():
        cells = "".join(f"{_fmt(values.get(m)):>22}" for m in _METRIC_ORDER)
        out.write(f"  {name:15}{cells}\n")
    return 0


def run_models(settings: Settings, args: argparse.Namespace) -> int:
    from core.model.artifact import list_versions, read_metadata

    model_dir = args.model_dir or settings.model_path
    versions = list_versions(model_dir)
    if not versions:
        sys.stdout.write(f"no models in {model_dir}: run `credit-pipeline train`\n")
        return 0
    for version in versions:
        meta = read_metadata(model_dir, version)
        auc = meta.metrics["model"]["roc_auc"]
        latest = "  (latest)" if version == versions[-1] else ""
        sys.stdout.write(f"{version}  rows {meta.rows:>7,}  auc {_fmt(auc)}{latest}\n")
    return 0


def run_consistency(settings: Settings, args: argparse.Namespace) -> int:
    """0 when every comparable served value matches, 1 when some do not, 2 without a report."""
    from training.consistency import consistency_report, format_report

    try:
        report = consistency_report(
            settings, since=args.since, limit=args.limit, max_examples=args.examples
        )
    except CreditPipelineError as exc:
        # Not main()'s 1: that would read as "mismatches found".
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_NO_REPORT
    if args.json:
        text = json.dumps(report.to_json(), indent=2, default=str)
    else:
        text = format_report(report)
    sys.stdout.write(text + "\n")
    return EXIT_MISMATCHES if report.mismatches else EXIT_CONSISTENT


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
