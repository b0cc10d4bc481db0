"""`credit-pipeline bench`: ingestion, freshness and scoring benchmarks on a stack of their own.

Layout: `cli` and `run` (the command, one session), `config` (sizes), `stack` and `procs` (the
scratch stack, child processes), `events` and `verify` (the seeded streams, counting what reached
the stores), `ingest`, `consumers`, `push_agent` and `stages` (throughput against the naive
baselines), `freshness` and `sampler`, `scoring`, `servers`, `loadgen` and `wrk`, `memory` and
`cpu` (resources), `profiling` (py-spy), `machine`, `goals`, `stats`, `report`.
"""
