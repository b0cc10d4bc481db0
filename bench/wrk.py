"""Closed-loop load with wrk (C, epoll): it does not run out of CPU before the server does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import BenchError

INSTALL_HINT = "install it with `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`"

# wrk calls request() for every request (a body per line of the file, in turn) and done() once
# at the end; done() prints one line the benchmark parses. The Authorization header (the scoring
# API's key) comes from the environment (AUTH_ENV), not from the command line `ps` shows.
_SCRIPT = r"""
local bodies = {}
local i = 0
local headers = {["Content-Type"] = "application/json"}
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and #authorization > 0 then headers["Authorization"] = authorization end
init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
end
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, headers, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    url: str,
    bodies: Path,
    seconds: float,
    connections: int,
    cpu_prefix: list[str],
    work: Path,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One closed-loop run: requests, latency percentiles (ms), error counts. `env` is added to
    this process's environment for wrk (AUTH_ENV: the Authorization header to send)."""
    binary = wrk_path()
    if binary is None:
        raise BenchError(f"wrk is not installed: {INSTALL_HINT}")
    script = work / "bench.lua"
    script.write_text(_SCRIPT)
    argv = [
        *cpu_prefix,
        binary,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        str(bodies),
    ]
    done = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {done.returncode}): {done.stderr or done.stdout}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return {
        "requests": raw["requests"],
        "elapsed_s": raw["duration_us"] / 1e6,
        "latency_ms": {
            "p50_ms": raw["p50_us"] / 1000,
            "p95_ms": raw["p95_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000,
        },
        "errors": errors,
    }
