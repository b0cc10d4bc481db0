"""`credit-pipeline bench`: ingestion, freshness and scoring benchmarks on a stack of their own.

Layout: `stack` and `procs` (the scratch stack and the child processes), `events` (the event
streams), `ingest`, `push_agent` (the naive baselines), `freshness` and `sampler`, `scoring`,
`loadgen` and `wrk` (load generators), `memory`, `profiling`, `machine`, `report`, `cli`.
"""
