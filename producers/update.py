"""One update for one entity: features not given keep the entity's current online value."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.cli_options import option_flag
from core.contract import VIEWS, Column, ViewContract
from core.events import UpdateEvent, new_event
from core.settings import Settings
from producers.errors import (
    MissingFeaturesError,
    NothingToUpdateError,
    OnlineReadError,
    ProducerError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureOption:
    """The `produce update` option of one feature of one view."""

    view: ViewContract
    column: Column

    @property
    def flag(self) -> str:
        return option_flag(self.column.name)

    @property
    def dest(self) -> str:
        return f"feature__{self.view.name}__{self.column.name}"


def feature_options() -> list[FeatureOption]:
    """One option per feature of every view, in contract order; flags must not collide."""
    options = [FeatureOption(view, column) for view in VIEWS for column in view.features]
    flags = [option_flag(v.entity.name) for v in VIEWS] + [o.flag for o in options]
    clashes = sorted({f for f in flags if flags.count(f) > 1})
    if clashes:
        # Two views sharing a feature name would need view-qualified flags; fail loudly
        # rather than let one option silently feed both.
        raise ValueError(f"feature flags {clashes} belong to more than one view or entity")
    return options


# The scoring API's read of one entity's online values (scoring_api/api/routes/live.py).
ENTITY_READ_PATH = "/live/entities"
_API_TIMEOUT_S = 5.0


def read_online_row(settings: Settings, view: ViewContract, key: Any) -> dict[str, Any] | None:
    """The entity's current online features; None when it has none at all.

    Asked of the running scoring API, which has Feast loaded; with no API listening, read
    through Feast in this process (which first imports it: seconds).
    """
    values = _read_through_api(settings, view, key)
    if values is None:
        values = _read_through_feast(settings, view, key)
    row = {c.name: _typed(c, values.get(c.name)) for c in view.features}
    return None if all(v is None for v in row.values()) else row


def _read_through_api(settings: Settings, view: ViewContract, key: Any) -> dict[str, Any] | None:
    """The view's values from the API; None if no API answers at its address, or no key
    (with the features:read scope: `Settings.client_api_key`) is there to ask it."""
    api_key = settings.client_api_key()
    if api_key is None:
        return None
    request = urllib.request.Request(
        settings.api_url + ENTITY_READ_PATH,
        data=json.dumps({"entity": view.entity.name, "key": key}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api_key}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=_API_TIMEOUT_S) as response:  # noqa: S310
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # something else listens there, or an API without the live routes
            return None
        raise OnlineReadError(
            f"the scoring API at {settings.api_url} could not read the online value of "
            f"{view.entity.name} {view.entity_key.mask(key)}: {_api_error(exc)}"
        ) from None
    except (urllib.error.URLError, OSError):
        log.debug("no scoring API at %s: reading through Feast", settings.api_url)
        return None
    return dict(body["views"][view.name]["values"] or {})


def _api_error(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read())["error"]
        return f"{error['code']} ({exc.code}): {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code}"


def _read_through_feast(settings: Settings, view: ViewContract, key: Any) -> dict[str, Any]:
    masked = view.entity_key.mask(key)
    try:
        from core.feast_store import open_store

        store = open_store(settings)
        result = store.get_online_features(
            features=view.feature_refs(), entity_rows=[{view.entity.name: key}]
        ).to_dict()
    except Exception as exc:  # Feast, Redis and the SQL registry each raise their own types
        # Library messages may quote the entity key: mask it before it reaches a terminal.
        reason = f"{type(exc).__name__}: {exc}".replace(str(key), masked)
        raise OnlineReadError(
            f"cannot read the online value of {view.entity.name} {masked} ({reason}); "
            "is the stack up and `credit-pipeline init` done? Or give every feature option."
        ) from None
    return {c.name: result[c.name][0] for c in view.features}


def _typed(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.kind == "int64":
        return int(value)
    if column.kind == "float64":
        return float(value)
    return str(value)


def require_features(view: ViewContract, given: Mapping[str, Any]) -> None:
    """An update must change something: without a feature it would only give the online values
    a new event time, and so make stale values look fresh."""
    if not given:
        flags = ", ".join(option_flag(c.name) for c in view.features)
        raise NothingToUpdateError(f"give at least one feature of {view.name} to set: {flags}")


def starting_row(view: ViewContract) -> dict[str, Any]:
    """What `produce update --new` starts from: each numeric feature's lowest allowed value
    (its minimum tag, else 0). Strings have no sensible default and must be given."""
    return {c.name: dict(c.bounds).get("ge", 0) for c in view.features if c.kind != "string"}


def build_update(
    view: ViewContract, key: Any, given: Mapping[str, Any], online: Mapping[str, Any] | None
) -> UpdateEvent:
    """The full row: given features over the online ones; raises if none is given, or if a
    feature has neither a given nor an online value."""
    require_features(view, given)
    current = {k: v for k, v in (online or {}).items() if v is not None}
    missing = [c for c in view.features if c.name not in given and c.name not in current]
    if missing:
        flags = " ".join(f"{option_flag(c.name)} ..." for c in missing)
        state = "has no online value yet" if not current else "lacks some online features"
        numbers = [c for c in missing if c.kind != "string"]
        hint = " (or add --new to start its numbers at 0)" if numbers and not current else ""
        raise MissingFeaturesError(
            f"{view.entity.name} {view.entity_key.mask(key)} {state}: give {flags}{hint}"
        )
    row = {view.entity.name: key, **current, **given}
    if pair := view.disorder(row):  # worded for the command line, before the contract's
        lower, upper = pair
        raise ProducerError(
            f"{option_flag(lower)} may not exceed {upper}"
            + ("" if upper in given else f": give {option_flag(upper)} too")
        )
    return new_event(view, row)  # validates the row against the contract
