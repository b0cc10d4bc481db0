"""The processor's own online writer: Feast's Redis layout, written in one round trip per batch.

Feast's writer (`FeastOnlineWriter`, kept behind `CREDIT_ONLINE_WRITER=feast` as the
reference) builds protobuf objects per value, reads every entity's stored time in one round
trip and writes in a second. This writer encodes the same bytes from the contract
(`redis_layout`) and leaves the "only if newer" check to Redis: a Lua script compares each
row's event time with the stored `_ts:view` field and writes the row only when it is newer,
which is Feast's rule (an equal time keeps the stored row). Script calls are pipelined, so a
batch is one round trip, and no other writer can slip between the read and the write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio
import redis.exceptions

from core.contract import VIEWS, ViewContract
from core.events import UpdateEvent
from core.redis_layout import ViewLayout, timestamp_bytes
from core.settings import Settings

# Rows per script call: bounds how long one call holds the (single-threaded) Redis.
ROWS_PER_CALL = 250

# ARGV: the ts field, the feature count n, the n feature fields, then per key (KEYS[i]): event
# seconds, event nanos, serialized Timestamp, n serialized values. The stored Timestamp is
# decoded here (fields 1 and 2, varints); seconds and nanos each fit a Lua number exactly.
NEWER_ONLY_SCRIPT = """
local ts_field = ARGV[1]
local n = tonumber(ARGV[2])
local stride = n + 3
local written = 0
local function stored_time(raw)
  local seconds, nanos, i = 0, 0, 1
  while i <= #raw do
    local tag = string.byte(raw, i)
    i = i + 1
    local value, scale = 0, 1
    repeat
      local b = string.byte(raw, i)
      i = i + 1
      value = value + (b % 128) * scale
      scale = scale * 128
    until b < 128
    if tag == 8 then seconds = value elseif tag == 16 then nanos = value end
  end
  return seconds, nanos
end
for k = 1, #KEYS do
  local at = 3 + n + (k - 1) * stride
  local seconds, nanos = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  local newer = true
  local raw = redis.call('HGET', KEYS[k], ts_field)
  if raw then
    local s, ns = stored_time(raw)
    newer = seconds > s or (seconds == s and nanos > ns)
  end
  if newer then
    local args = {ts_field, ARGV[at + 2]}
    for f = 1, n do
      args[#args + 1] = ARGV[2 + f]
      args[#args + 1] = ARGV[at + 2 + f]
    end
    redis.call('HSET', KEYS[k], unpack(args))
    written = written + 1
  end
end
return written
"""


class RedisOnlineWriter:
    """Writes the newest row of each entity in Feast's Redis layout, newer rows only."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        address: str,
        project: str,
        views: Sequence[ViewContract] = VIEWS,
        timeout: float = 10.0,
    ) -> None:
        self.address = address
        self._client = client
        self._layouts = {v.name: ViewLayout.of(v, project) for v in views}
        self._heads: dict[str, list[Any]] = {
            name: [layout.ts_field, len(layout.fields), *layout.fields]
            for name, layout in self._layouts.items()
        }
        self._timeout = timeout
        self._sha: str | None = None

    @classmethod
    def open(cls, settings: Settings) -> RedisOnlineWriter:
        from core.feast_store import PROJECT

        password = settings.redis_password
        client = redis.asyncio.Redis(
            host=settings.redis_host,
            port=settings.redis_port,
            password=None if password is None else password.get_secret_value(),
            socket_connect_timeout=settings.store_timeout_seconds,
        )
        return cls(client, settings.redis_address, PROJECT, timeout=settings.store_timeout_seconds)

    def calls(
        self, view: ViewContract, events: Sequence[UpdateEvent]
    ) -> list[tuple[list[bytes], list[Any]]]:
        """(KEYS, ARGV) of each script call writing `events` (one row per event)."""
        layout = self._layouts[view.name]
        head = self._heads[view.name]
        redis_key, values = layout.redis_key, layout.values
        calls = []
        for start in range(0, len(events), ROWS_PER_CALL):
            chunk = events[start : start + ROWS_PER_CALL]
            args: list[Any] = list(head)
            for event in chunk:
                args.extend(timestamp_bytes(event.event_timestamp))
                args.extend(values(event.row))
            calls.append(([redis_key(e.entity_value) for e in chunk], args))
        return calls

    async def _run(self, calls: list[tuple[list[bytes], list[Any]]]) -> None:
        if self._sha is None:
            self._sha = await self._client.script_load(NEWER_ONLY_SCRIPT)
        async with self._client.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            await pipe.execute()

    async def write(self, view: ViewContract, events: Sequence[UpdateEvent]) -> None:
        """Write `events` (at most one per entity); a row not newer than the stored one is
        left out by the script."""
        calls = self.calls(view, events)
        try:
            try:
                await asyncio.wait_for(self._run(calls), self._timeout)
            except redis.exceptions.NoScriptError:
                self._sha = None  # Redis restarted and forgot the script: load it again
                await asyncio.wait_for(self._run(calls), self._timeout)
        except TimeoutError:
            raise TimeoutError(f"no answer within {self._timeout:g} s") from None

    async def close(self) -> None:
        await self._client.aclose()
