"""Stream processor: update topics -> validated micro-batches -> Feast online store + Postgres.

Layout: `records` and `batching` (pure handlers), `online_rows` (Feast's format), `writers` and
`retry` (the stores, held batches), `pipeline` (one batch end to end), `faust_app`/`kafka`/
`runtime` (the faust wiring), `metrics`, `cli`.
"""

# Imported before anything imports Feast: `import feast` loads feast.metrics, which sets
# PROMETHEUS_MULTIPROCESS_DIR before its own first import of prometheus_client and so switches
# every metric of the process to mmap files in a temp dir. Loaded first, prometheus_client keeps
# this worker's metrics in memory.
import prometheus_client  # noqa: F401
