"""`credit-pipeline serve`: the scoring API under uvicorn; registers `score` (score_cli) too."""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.cli_options import Subcommands
from core.settings import Settings
from scoring_api.decisions_cli import add_decisions_commands
from scoring_api.keys_cli import add_keys_commands
from scoring_api.score_cli import add_score_command

WORKER_START_SECONDS = 60
# prometheus_client's multi-process mode (not a CREDIT_* setting: the library reads it).
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def add_serve_commands(subcommands: Subcommands) -> None:
    """Register `serve`, `score`, `keys` and `decisions` (on a LazyOptionsParser)."""
    serve = subcommands.add_parser("serve", help="run the scoring API (uvicorn)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--model-version", help="version id to serve (default: latest)")
    serve.add_argument("--model-dir", type=Path, help="artifact directory")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=run_serve)

    add_score_command(subcommands)
    add_keys_commands(subcommands)
    add_decisions_commands(subcommands)


# -- serve ------------------------------------------------------------------------------------


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from core.model.artifact import resolve_version
    from core.ports import require_free_port

    host = args.host or settings.api_host
    port = args.port or settings.api_port
    workers = args.workers or settings.api_workers
    # Before the model and Feast load: uvicorn would log "ready" first, then fail to bind.
    require_free_port(host, port, "CREDIT_API_PORT (or --port)")
    if host not in ("127.0.0.1", "::1", "localhost"):
        logging.getLogger(__name__).warning(
            "listening beyond loopback on %s: every caller needs an API key, and only the host "
            "names %s are answered (CREDIT_API_TRUSTED_HOSTS)",
            host,
            ",".join(settings.api_trusted_host_names),
        )
    model_dir = args.model_dir or settings.model_path
    # Resolved once here, so every worker serves the same version even if a training run
    # finishes while they start.
    version = resolve_version(model_dir, args.model_version or settings.model_version)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": args.access_log,
        "log_config": _log_config(),
    }
    if workers == 1:
        from scoring_api.main import create_app

        uvicorn.run(create_app(settings, model_dir=model_dir, model_version=version), **options)
    else:
        # Worker processes build their app from CREDIT_* variables (uvicorn needs an import
        # string): hand them the resolved version and directory that way.
        os.environ["CREDIT_MODEL_DIR"] = str(model_dir)
        os.environ["CREDIT_MODEL_VERSION"] = version
        with _shared_metrics_dir(workers):
            # A worker answers uvicorn's health pings only after `import feast` (~5 s, longer
            # on a busy machine); the default 5 s limit would restart it in a loop.
            uvicorn.run(
                "scoring_api.main:create_app",
                factory=True,
                workers=workers,
                timeout_worker_healthcheck=WORKER_START_SECONDS,
                **options,
            )
    return 0


@contextlib.contextmanager
def _shared_metrics_dir(workers: int) -> Iterator[Path]:
    """PROMETHEUS_MULTIPROC_DIR for the workers: a new private (0700) directory, removed at
    exit. prometheus_client reads the variable when a process first imports it; uvicorn starts
    its workers with `spawn` (fresh interpreters that inherit os.environ), so setting it here,
    before uvicorn.run, reaches every worker whatever this process has imported. Each worker
    keeps its values in files there and GET /metrics merges them
    (scoring_api/service/metrics.py), so a scrape answers for all workers whichever it hits."""
    path = Path(tempfile.mkdtemp(prefix="credit-api-metrics-"))
    os.environ[_MULTIPROC_ENV] = str(path)
    logging.getLogger(__name__).info("metrics of %d workers shared through %s", workers, path)
    try:
        yield path
    finally:
        os.environ.pop(_MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus our packages' INFO lines (worker processes get nothing else)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for package in ("scoring_api", "credit_pipeline"):
        config["loggers"][package] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
