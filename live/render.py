"""Text of `credit-pipeline watch`: change lines, entity blocks, event lines, the live table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.live.entities import Change, WatchedEntity
from core.live.messages import OnlineUpdate
from core.live.stats import Summary

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen
BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def clock(ts: datetime | None) -> str:
    """`HH:MM:SS.mmm` in UTC, or `-`."""
    if ts is None:
        return "-"
    return ts.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def stamp(ts: datetime | None) -> str:
    """`YYYY-MM-DD HH:MM:SS.mmmZ`, or `no row`."""
    if ts is None:
        return "no row"
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def entity_block(watched: WatchedEntity) -> list[str]:
    """The current values of a watched entity, one view after the other."""
    lines = []
    for view, state in watched.views.items():
        if state.event_timestamp is None:  # not a row of Nones: say what it means
            lines.append(
                f"{watched.entity} {watched.masked_key} {view}: no online row (an unknown "
                f"{watched.entity}, or its features never loaded); its first update shows here"
            )
            continue
        lines.append(
            f"{watched.entity} {watched.masked_key} {view} (as of {stamp(state.event_timestamp)})"
        )
        width = max((len(name) for name in state.values), default=0)
        lines.extend(f"  {name:<{width}}  {value}" for name, value in state.values.items())
    return lines


def change_lines(watched: WatchedEntity, changes: Sequence[Change]) -> list[str]:
    """One line per changed feature: `old -> new`, with the event time and its lag."""
    if not changes:
        return []
    update = changes[0].update
    where = f"{watched.entity} {watched.masked_key} {update.view}"
    tail = f"(event {clock(update.event_timestamp)}, lag {_ms(update.lag_ms)})"
    return [f"{where}.{c.feature}: {c.old} -> {c.new}  {tail}" for c in changes]


def _values(values: dict[str, Any], width: int) -> str:
    text = " ".join(f"{name}={value}" for name, value in values.items())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def event_line(update: OnlineUpdate, width: int = 200) -> str:
    """One written update (key masked), for a log-like stream of lines."""
    head = (
        f"{clock(update.written_at)} {update.view} {update.entity}={update.masked_key} "
        f"lag={update.lag_ms:.0f}ms "
    )
    return head + _values(update.values, max(width - len(head), 20))


def table(
    summary: Summary, recent: Sequence[OnlineUpdate], channel: str, width: int, subscribed: bool
) -> str:
    """The screen of `watch` without an entity: rates, freshness, recent updates."""
    state = "subscribed" if subscribed else "NOT subscribed (Redis unreachable?)"
    views = "  ".join(f"{v} {r:,.1f}/s" for v, r in sorted(summary.rate_by_view.items()))
    lines = [
        f"{BOLD}credit-pipeline watch{RESET}  channel {channel} ({state})   Ctrl-C stops",
        f"throughput {summary.rate:,.1f} events/s   {views or 'no events yet'}",
        f"freshness (event time -> online) p50 {_ms(summary.lag_p50_ms)}   "
        f"p99 {_ms(summary.lag_p99_ms)}   total seen {summary.total:,}",
        "",
        f"{DIM}{'written':<12} {'view':<18} {'entity':<22} {'lag':>9}  values{RESET}",
    ]
    for update in recent:
        key = f"{update.entity}={update.masked_key}"
        head = (
            f"{clock(update.written_at):<12} {update.view:<18} {key:<22} {_ms(update.lag_ms):>9}  "
        )
        lines.append(head + _values(update.values, max(width - len(head), 20)))
    return CLEAR + "\n".join(lines) + "\n"
