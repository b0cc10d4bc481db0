"""Feast's online write path below `store.push`: rows in the provider's own format.

`store.push` and `store.write_to_online_store` take a pandas frame and convert it (pandas ->
arrow -> protobuf) on every call, listing the registry's feature views each time; measured
here they cost the processor more CPU per row than building the protobuf rows directly (see
BENCHMARKS.md). The provider's `online_write_batch_async` takes those rows as they are. The
provider (`FeatureStore.provider`) and its write method are the interface Feast documents for
custom providers, but not the API it promises to users; this module is the only place that
calls it, and tests/stream_processor/test_feast_compat.py pins the locked Feast version and the
signatures used here, failing loudly when an upgrade changes them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView

# One row of the provider's write path: entity key, feature values by name, event time and
# created time (None: Feast keeps only the event time online).
OnlineRow = tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]
# Writes rows of one registered feature view; Feast's Redis writer skips a row whose event time
# is not newer than the stored one.
OnlineWrite = Callable[["FeatureView", list[OnlineRow]], Awaitable[None]]


def online_writer(store: FeatureStore) -> OnlineWrite:
    """The online write of `store`'s provider, bound to its configuration."""
    provider = store.provider
    config = store.config

    async def write(view: FeatureView, rows: list[OnlineRow]) -> None:
        await provider.online_write_batch_async(config, view, rows, None)

    return write
