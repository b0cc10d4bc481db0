"""`credit-pipeline keys create|list|revoke|login-link`: the API's keys, in Postgres."""

from __future__ import annotations

import argparse

from core.api_keys import SCOPES, KeyStore, KeyStoreError, new_key
from core.cli_options import Subcommands
from core.settings import Settings


def add_keys_commands(subcommands: Subcommands) -> None:
    keys = subcommands.add_parser(
        "keys",
        help="API keys of the scoring API (create, list, revoke, login-link, generate)",
        description="Scopes: " + "; ".join(f"{name}: {what}" for name, what in SCOPES.items()),
    )
    actions = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a new key, printed once")
    create.add_argument("--name", required=True, help="a unique name (who or what uses it)")
    create.add_argument(
        "--scopes",
        required=True,
        help=f"comma-separated, of: {', '.join(SCOPES)}",
    )
    create.add_argument(
        "--configured",
        action="store_true",
        help="register the key of CREDIT_API_KEY / CREDIT_API_KEY_FILE (a deployment's secret) "
        "instead of making one; nothing to do if it is registered under this name already",
    )
    create.set_defaults(func=_create)
    generate = actions.add_parser(
        "generate", help="print a new random key without registering it (for a secret file)"
    )
    generate.set_defaults(func=_generate)
    listing = actions.add_parser("list", help="the keys: names, scopes, state (no secrets)")
    listing.set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help="revoke a key and end its sessions")
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(func=_revoke)
    link = actions.add_parser(
        "login-link", help="a one-time link (10 minutes) that opens a live-page session"
    )
    link.add_argument("--name", required=True, help="the key the session acts as")
    link.set_defaults(func=_login_link)


def _create(settings: Settings, args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    if args.configured:
        return _register_configured(settings, args.name, scopes)
    record, key = KeyStore(settings).create(args.name, scopes)
    print(key)  # noqa: T201 - the one time the key is shown
    print(  # noqa: T201
        f"key {record.name!r} (id {record.key_id}, scopes {','.join(sorted(record.scopes))}): "
        "store it now, it is not shown again. Send it as `Authorization: Bearer <key>`.",
        flush=True,
    )
    return 0


def _register_configured(settings: Settings, name: str, scopes: list[str]) -> int:
    configured = settings.configured_api_key()
    if configured is None:
        print(  # noqa: T201
            "no key configured (CREDIT_API_KEY or CREDIT_API_KEY_FILE): none registered. "
            "Create keys with `credit-pipeline keys create --name NAME --scopes ...`."
        )
        return 0
    store = KeyStore(settings)
    existing = {key.name: key for key in store.all()}.get(name)
    if existing is not None:
        record, reason = store.verify(configured)
        if record is not None and record.name == name:
            print(f"key {name!r} is registered already")  # noqa: T201
            return 0
        raise KeyStoreError(
            f"a key named {name!r} exists with another secret or state ({reason or 'other'}); "
            f"revoke it or pick another name"
        )
    record, _ = store.create(name, scopes, key=configured)
    scopes_text = ",".join(sorted(record.scopes))
    print(f"registered the configured key as {name!r} (scopes {scopes_text})")  # noqa: T201
    return 0


def _generate(settings: Settings, args: argparse.Namespace) -> int:
    print(new_key())  # noqa: T201 - asked for: a secret to keep
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    rows = [("NAME", "ID", "SCOPES", "CREATED", "STATE")]
    for key in KeyStore(settings).all():
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        created = f"{key.created_at:%Y-%m-%d %H:%M}"
        rows.append((key.name, key.key_id, ",".join(sorted(key.scopes)), created, state))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        print(f"{cells}  {row[4]}")  # noqa: T201 - CLI output
    return 0


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    record = KeyStore(settings).revoke(args.name)
    print(f"revoked key {record.name!r} (id {record.key_id}); its sessions are closed")  # noqa: T201
    return 0


def login_link(settings: Settings, name: str) -> str:
    """A one-time link to the live page that opens a session of key `name`."""
    code = KeyStore(settings).login_code(name)
    return f"{settings.api_url}/#code={code}"


def _login_link(settings: Settings, args: argparse.Namespace) -> int:
    print(login_link(settings, args.name))  # noqa: T201
    return 0
