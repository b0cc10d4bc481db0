"""`credit-pipeline score`: one loan application, decided by the running API or in-process.

The options are the loan request's fields, generated from the feature contract, and added when
`score` itself is parsed or its help printed (core.cli_options).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from core.cli_options import Subcommands, option_flag
from core.errors import CreditPipelineError
from core.settings import Settings

DECISIONS_PATH = "/v1/loan-decisions"
_PY_TYPES = {"int64": int, "float64": float, "string": str}


class ScoreError(CreditPipelineError):
    """The scoring API refused or could not be reached."""


def add_score_command(subcommands: Subcommands) -> None:
    """Register `score`; its contract-derived options are added when it is first used."""
    score = subcommands.add_parser(
        "score",
        help="decide one loan application (through the running API, or --local)",
        description="Options are the loan request's fields, generated from the feature contract.",
        add_options=_add_application_options,
    )
    score.add_argument("--url", help="API base URL (default http://<api_host>:<api_port>)")
    score.add_argument(
        "--local",
        action="store_true",
        help="score in this process, no API (a trial: not recorded in the decision log)",
    )
    score.add_argument("--model-dir", type=Path, help="artifact directory (with --local)")
    score.add_argument("--json", action="store_true", help="print the raw JSON response")
    score.add_argument(
        "--sample",
        action="store_true",
        help="fill every field not given from a random loan of the offline store",
    )
    score.set_defaults(func=run_score)


def _fields() -> list[str]:
    from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS

    return [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]


def _required() -> list[str]:
    """Float fields may be unknown (null); everything else must be given."""
    from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS

    return [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS if c.kind != "float64")]


def _add_application_options(parser: argparse.ArgumentParser) -> None:
    from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS
    from scoring_api.schemas import REQUEST_RULES

    for name, key in ENTITY_KEYS.items():
        form = key.tags.get("pattern") or f"{key.tags.get('minimum')}..{key.tags.get('maximum')}"
        parser.add_argument(
            option_flag(name),
            dest=name,
            type=_PY_TYPES[key.kind],
            help=f"entity key, {form} (required)",
        )
    for column in LOAN_REQUEST_COLUMNS:
        rule = REQUEST_RULES[column.name]
        optional = " (optional)" if column.kind == "float64" else " (required)"
        parser.add_argument(
            option_flag(column.name),
            dest=column.name,
            type=_PY_TYPES[column.kind],
            choices=rule.get("values"),
            help=(rule.get("description", "") + optional).replace("%", "%%"),  # argparse %-formats
        )


def _application(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """The options as a request body; with --sample, missing ones come from a stored loan."""
    from core.contract import ENTITY_KEYS

    application = {name: getattr(args, name) for name in _fields()}
    if args.sample:
        sampled = sample_application(settings)
        application = {k: sampled[k] if v is None else v for k, v in application.items()}
        shown = ", ".join(f"{n} {k.mask(application[n])}" for n, k in ENTITY_KEYS.items())
        sys.stderr.write(f"sampled a stored loan application ({shown})\n")
    missing = [option_flag(n) for n in _required() if application[n] is None]
    if missing:
        raise ScoreError(
            f"missing {', '.join(missing)}: give them, or add --sample to take the rest from a "
            "loan in the offline store"
        )
    return application


def sample_application(settings: Settings) -> dict[str, Any]:
    """The keys and fields of one random loan from the offline loan table."""
    import psycopg2
    from psycopg2 import sql

    from core.contract import LOAN_TABLE

    fields = _fields()
    query = sql.SQL("SELECT {} FROM {} ORDER BY random() LIMIT 1").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in fields),
        sql.Identifier(settings.postgres_schema, LOAN_TABLE),
    )
    try:
        with psycopg2.connect(**settings.postgres_connect_kwargs()) as conn, conn.cursor() as cur:
            cur.execute(query)
            row = cur.fetchone()
    except psycopg2.Error as exc:
        raise ScoreError(
            f"cannot read a loan from {settings.postgres_url_masked} ({type(exc).__name__}); "
            "run `credit-pipeline init` first"
        ) from None
    if row is None:
        raise ScoreError("the loan table is empty: run `credit-pipeline init` first")
    return dict(zip(fields, row, strict=True))


def run_score(settings: Settings, args: argparse.Namespace) -> int:
    application = _application(settings, args)
    if args.local:
        body = asyncio.run(_score_local(settings, application, args.model_dir))
    else:
        body = _score_remote(args.url or settings.api_url, application, _api_key(settings))
    if args.json:
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        sys.stdout.write(format_decision(body))
    return 0


def _api_key(settings: Settings) -> str:
    key = settings.client_api_key()
    if key is None:
        raise ScoreError(
            "the API needs a key: set CREDIT_API_KEY (or CREDIT_API_KEY_FILE) to one with the "
            "score scope (`credit-pipeline keys create --name me --scopes score,features:read`), "
            "or score in-process with --local"
        )
    return key


def _score_remote(base_url: str, application: dict[str, Any], key: str) -> dict[str, Any]:
    request = urllib.request.Request(
        base_url.rstrip("/") + DECISIONS_PATH,
        data=json.dumps(application).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http(s) URL
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:
        raise ScoreError(_error_text(exc.code, exc.read())) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ScoreError(
            f"cannot reach the scoring API at {base_url} ({reason}); is `credit-pipeline serve` "
            "running? (or score in-process with --local)"
        ) from None


def _error_text(status: int, raw: bytes) -> str:
    try:
        error = json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError):
        return f"the scoring API answered {status}"
    lines = [f"{error['code']} ({status}): {error['message']}"]
    lines += [
        f"  {d['field']}: {d['message']}" if "field" in d else f"  {json.dumps(d)}"
        for d in error.get("details", [])
    ]
    lines.append(f"  request id {error.get('request_id')}")
    return "\n".join(lines)


async def _score_local(
    settings: Settings, application: dict[str, Any], model_dir: Path | None
) -> dict[str, Any]:
    """The API's own code path without HTTP: runtime, validation, scorer, response body."""
    from pydantic import ValidationError

    from scoring_api.api.routes.loans import decision_body
    from scoring_api.core.config import ApiConfig
    from scoring_api.core.errors import ApiError
    from scoring_api.schemas import LoanApplication
    from scoring_api.service.runtime import ApiRuntime

    try:
        valid = LoanApplication.model_validate(application)
    except ValidationError as exc:  # messages never quote a dob_ssn (see schemas)
        fields = "\n".join(f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ScoreError(f"validation_error: the application is not valid\n{fields}") from None
    # A trial decision on this machine, not a decision given to anyone: not logged.
    unlogged = settings.model_copy(update={"decision_log": False})
    runtime = await ApiRuntime.start(ApiConfig.from_settings(unlogged, model_dir=model_dir))
    try:
        decision = await runtime.scorer.score(valid.model_dump())
    except ApiError as exc:
        details = "".join(f"\n  {json.dumps(d)}" for d in exc.details)
        raise ScoreError(f"{exc.code} ({exc.status_code}): {exc.message}{details}") from None
    finally:
        await runtime.close()
    return decision_body(decision, "local").model_dump(mode="json")


def format_decision(body: dict[str, Any]) -> str:
    """A decision as a few lines for a terminal."""
    relation = ">=" if body["decision"] == "rejected" else "<"
    lines = [
        f"{body['decision'].upper()}  P(default) {body['probability_of_default']:.4f} "
        f"{relation} threshold {body['decision_threshold']}  (model {body['model_version']})"
    ]
    for view, features in body["features"].items():
        age = features.get("age_seconds")
        when = "no row" if age is None else f"{age / 86_400:.1f} days old"
        lines.append(f"  {view:<18} {features['status']:<8} {when}")
    for reason in body.get("reasons") or []:
        lines.append(f"  reason: {reason['phrase']}  (+{reason['contribution']:.3f} log-odds)")
    lines += [f"  warning: {w}" for w in body.get("warnings", [])]
    lines.append(f"  request id {body['request_id']}")
    return "\n".join(lines) + "\n"
