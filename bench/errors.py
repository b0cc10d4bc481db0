"""Errors of the benchmarks; each message says what to do."""

from __future__ import annotations

from core.errors import CreditPipelineError


class BenchError(CreditPipelineError):
    """A benchmark could not run or could not verify its figures."""


class ChildFailed(BenchError):
    """A process the benchmark started exited or never became ready."""
