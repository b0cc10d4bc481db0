"""The freshness sampler: polls Feast for fixed entities and notes when each new value appears.

`python -m bench.sampler SPEC OUT` (settings from CREDIT_* variables). SPEC is JSON with
`rows` (entity rows holding both join keys), `views` (view name -> entity key name),
`interval_ms` and `stop_file`. Until the stop file exists it calls `get_online_features` for
all rows at once; whenever a view's event time of an entity changes it records (view, entity,
event time, wall time the call returned), in microseconds since the epoch. OUT gets the
observations and the duration of every poll.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.verify import proto_micros
from core.contract import VIEWS_BY_NAME
from core.feast_store import open_store
from core.settings import Settings


def main(argv: list[str]) -> int:
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text())
    rows: list[dict[str, Any]] = spec["rows"]
    views: dict[str, str] = spec["views"]
    interval = spec["interval_ms"] / 1000
    stop_file = Path(spec["stop_file"])
    store = open_store(Settings())
    refs = [ref for name in views for ref in VIEWS_BY_NAME[name].feature_refs()]
    # One column per view carries that view's event times (all its features share them).
    probe = {name: f"{name}__{VIEWS_BY_NAME[name].features[0].name}" for name in views}
    last: dict[tuple[str, Any], int] = {}
    observations: list[list[Any]] = []
    polls_ms: list[float] = []

    def poll(record: bool) -> None:
        started = time.perf_counter()
        proto = store.get_online_features(
            features=refs, entity_rows=rows, full_feature_names=True
        ).proto
        returned = time.time_ns() // 1_000
        polls_ms.append((time.perf_counter() - started) * 1000)
        columns = dict(zip(proto.metadata.feature_names.val, proto.results, strict=True))
        for name, column in probe.items():
            stamps = columns[column].event_timestamps
            key_name = views[name]
            for i, row in enumerate(rows):
                ref = (name, row[key_name])
                stamp = proto_micros(stamps[i])
                if last.get(ref) != stamp:
                    if record:
                        observations.append([name, row[key_name], stamp, returned])
                    last[ref] = stamp

    # The baseline, before saying ready: the run produces only after "ready", so no event of
    # it can hide in the baseline (the first read builds Feast's clients and is slow).
    poll(record=False)
    polls_ms.clear()
    sys.stderr.write("sampler ready\n")
    sys.stderr.flush()
    stopping = False
    while not stopping:
        # One more poll once the stop file is there: the run touches it after the processor
        # wrote every event, so that poll sees each entity's newest value even when a busy
        # machine stretched the last intervals.
        stopping = stop_file.exists()
        started = time.perf_counter()
        poll(record=True)
        # Sleeping the rest of the interval bounds the sampler's CPU (it shares two cores with
        # the pipeline it measures); a value is seen at most one interval late.
        if not stopping:
            time.sleep(max(0.0, interval - (time.perf_counter() - started)))
    out_path.write_text(json.dumps({"observations": observations, "polls_ms": polls_ms}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
