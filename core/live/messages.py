"""The announcement of one batch written online: encoded by the processor, decoded by readers.

One JSON object per batch per view:
`{"v": 1, "view", "entity", "written_at", "rows": [{"key", "event_id", "event_timestamp",
"written_at", "values": {feature: value}}]}`; timestamps are ISO-8601 UTC. The key is in clear:
readers match it against the entity a user watches. It travels only inside our own Redis and
is masked before anything is shown in a list or a log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.contract import ENTITY_KEYS, VIEWS_BY_NAME, ViewContract
from core.events import UpdateEvent, format_timestamp
from core.live.errors import LiveMessageError

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class OnlineUpdate:
    """One entity's row as the processor wrote it online."""

    view: str
    entity: str  # the join key name, e.g. dob_ssn
    key: Any
    event_id: str
    event_timestamp: datetime
    written_at: datetime
    values: dict[str, Any]

    @property
    def lag_ms(self) -> float:
        """Event time to written online, in milliseconds."""
        return (self.written_at - self.event_timestamp).total_seconds() * 1000

    @property
    def masked_key(self) -> str:
        return ENTITY_KEYS[self.entity].mask(self.key)


def encode_batch(view: ViewContract, events: Sequence[UpdateEvent], written_at: datetime) -> bytes:
    """The announcement of `events` (the rows just written online for `view`)."""
    features = view.feature_names
    written = format_timestamp(written_at)
    rows = [
        {
            "key": event.entity_value,
            "event_id": event.event_id,
            "event_timestamp": format_timestamp(event.event_timestamp),
            "written_at": written,
            "values": {name: event.row[name] for name in features},
        }
        for event in events
    ]
    document = {
        "v": FORMAT_VERSION,
        "view": view.name,
        "entity": view.entity.name,
        "written_at": written,
        "rows": rows,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode_batch(raw: bytes | str) -> list[OnlineUpdate]:
    """The updates of one announcement; LiveMessageError if it is not one."""
    try:
        document = json.loads(raw)
        if document.get("v") != FORMAT_VERSION:
            raise LiveMessageError(
                f"announcement format {document.get('v')!r} is not {FORMAT_VERSION}"
            )
        view = VIEWS_BY_NAME[document["view"]]
        entity = view.entity.name
        return [
            OnlineUpdate(
                view=view.name,
                entity=entity,
                key=row["key"],
                event_id=row["event_id"],
                event_timestamp=datetime.fromisoformat(row["event_timestamp"]),
                written_at=datetime.fromisoformat(row["written_at"]),
                values=row["values"],
            )
            for row in document["rows"]
        ]
    except LiveMessageError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # The text of the error may quote the payload (a key in clear): the type only.
        raise LiveMessageError(f"unreadable announcement ({type(exc).__name__})") from None
