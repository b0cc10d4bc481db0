"""`credit-pipeline stack up|down|status [--json] [--show-secrets]`: the only place of the stack
that prints. Passwords are printed as `***` unless `--show-secrets` is given."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from core.settings import Settings
from local_stack.local import LocalStack
from local_stack.status import ServiceStatus
from local_stack.urls import connection_urls, scrub

# `status` exit code when a service does not answer (LSB: "program is not running").
EXIT_UNHEALTHY = 3


def add_stack_commands(subparsers: Any) -> None:
    """Register `stack up|down|status` on an argparse subparsers object."""
    stack = subparsers.add_parser(
        "stack", help="start, stop or inspect the local Kafka/Redis/Postgres stack"
    )
    commands = stack.add_subparsers(dest="stack_command", metavar="{up,down,status}", required=True)
    up = commands.add_parser("up", help="start the services (reuses running ones)")
    up.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for every service to answer (default 30)",
    )
    up.set_defaults(func=_up)
    down = commands.add_parser("down", help="stop the services this stack started")
    down.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait before SIGKILL (default 15)"
    )
    down.set_defaults(func=_down)
    status = commands.add_parser(
        "status", help="show each service; exit code 3 if one does not answer"
    )
    status.set_defaults(func=_status)
    for command in (up, down, status):
        command.add_argument(
            "--json",
            action="store_true",
            help="print connection URLs and per-service state as JSON",
        )
        command.add_argument(
            "--show-secrets",
            action="store_true",
            help="print passwords in clear (by default they are masked as ***)",
        )


def _up(settings: Settings, args: argparse.Namespace) -> int:
    _report(settings, LocalStack(settings).up(timeout=args.timeout), args)
    return 0


def _down(settings: Settings, args: argparse.Namespace) -> int:
    _report(settings, LocalStack(settings).down(timeout=args.timeout), args)
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    statuses = LocalStack(settings).status()
    _report(settings, statuses, args)
    return 0 if all(s.healthy for s in statuses) else EXIT_UNHEALTHY


def status_document(
    settings: Settings, statuses: list[ServiceStatus], *, show_secrets: bool = False
) -> dict[str, Any]:
    """connection_urls(), each service entry extended with its state; passwords masked (in
    the URLs and in any detail text) unless `show_secrets`."""
    urls = connection_urls(settings, show_secrets=show_secrets)
    document: dict[str, Any] = {"stack": str(settings.stack), **urls}
    for status in statuses:
        entry = asdict(status)
        del entry["name"]
        if not show_secrets:
            entry["detail"] = scrub(status.detail, settings)
        document[status.name] = {**document.get(status.name, {}), **entry}
    return document


def _report(settings: Settings, statuses: list[ServiceStatus], args: argparse.Namespace) -> None:
    show_secrets = bool(args.show_secrets)
    if args.json:
        document = status_document(settings, statuses, show_secrets=show_secrets)
        print(json.dumps(document, indent=2))  # noqa: T201
        return
    rows = [("SERVICE", "ADDRESS", "PID", "STATE", "HEALTH", "DETAIL")]
    for s in statuses:
        health = "ok" if s.healthy else "-"
        detail = s.detail if show_secrets else scrub(s.detail, settings)
        rows.append((s.name, s.address, str(s.pid or "-"), str(s.state), health, detail))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        print(f"{cells}  {row[5]}")  # noqa: T201 - CLI output
