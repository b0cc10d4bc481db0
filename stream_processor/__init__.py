"""Stream processor: update topics -> validated micro-batches -> Feast online store + Postgres.

Layout: `records` and `batching` (pure handlers), `redis_writer` (Feast's Redis layout,
written directly with core/redis_layout.py), `online_rows` (Feast's protobuf rows, for the reference
writer), `writers`, `dead_letters` and `retry` (the stores, held batches, outages), `pipeline`
(one batch end to end), `overlap` and `store_writers` (a worker's online and offline writers),
`progress` (lag, stalls, the adaptive fetch wait), `faust_app`/`runtime` (the faust wiring),
`shutdown` (the exit deadline), `metrics`, `cli` (one worker, or N supervised).
Private APIs of dependencies are reached only through `kafka` (aiokafka/faust) and
`feast_compat` (Feast's provider write), each with a test pinned to the locked version.
"""

# Imported before anything imports Feast: `import feast` loads feast.metrics, which sets
# PROMETHEUS_MULTIPROCESS_DIR before its own first import of prometheus_client and so switches
# every metric of the process to mmap files in a temp dir. Loaded first, prometheus_client keeps
# this worker's metrics in memory.
import prometheus_client  # noqa: F401
