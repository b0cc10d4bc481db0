"""`python -m stream_processor [--workers N]`: `credit-pipeline process` without the CLI around it.

Settings come from CREDIT_* variables; `process --workers N` spawns this module once per worker.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.errors import CreditPipelineError
from core.logs import configure_logging
from core.settings import load_settings
from stream_processor.cli import add_worker_arguments, run_process


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream_processor", description=__doc__)
    parser.add_argument(
        "--worker-index", type=int, default=None, help="label of this worker in logs"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    label = None if args.worker_index is None else f"worker-{args.worker_index}"
    configure_logging(args.verbose, label)
    settings = load_settings()
    if settings is None:
        return 2
    try:
        return run_process(settings, args)
    except CreditPipelineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
