"""An HTTP load generator in its own process: fixed-rate (open loop) or closed loop.

`python -m bench.loadgen open|closed URL BODIES OUT --seconds S [--rate R] [--connections C]`.
BODIES holds one JSON request body per line, sent in turn as POSTs. Open loop sends request i
at start + i/R whatever the answers do, so a server stall shows in every request sent during
it (no coordinated omission); `lag` is how late the generator itself sent (timer overshoot, its
own CPU), kept apart from the latency, which counts from the actual send. Closed loop keeps C
requests in flight. OUT gets latencies (ms), status counts, errors and the elapsed time.
Every request carries the `Authorization` header given in BENCH_AUTHORIZATION, when set (the
scoring API's key: in the environment, as a command line shows in `ps`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

AUTH_ENV = "BENCH_AUTHORIZATION"  # bench.servers.AUTH_ENV: this process does not import it


def request_headers(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """JSON, and the Authorization header of AUTH_ENV when it is set."""
    headers = {"Content-Type": "application/json"}
    authorization = (os.environ if environ is None else environ).get(AUTH_ENV)
    if authorization:
        headers["Authorization"] = authorization
    return headers


class Recorder:
    """Latencies, statuses and errors of the requests of one load run."""

    def __init__(self, method: str = "POST") -> None:
        self.method = method
        self.headers = request_headers()
        self.latencies_ms: list[float] = []
        self.lag_ms: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    async def send(self, session: aiohttp.ClientSession, url: str, body: bytes) -> None:
        """POST `body` (GET: no body); latency from now until the whole answer is read."""
        loop = asyncio.get_running_loop()
        since = loop.time()
        data = body if self.method == "POST" else None
        try:
            async with session.request(
                self.method, url, data=data, headers=self.headers
            ) as response:
                await response.read()
                self.statuses[str(response.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors[type(exc).__name__] += 1
            return
        self.latencies_ms.append((loop.time() - since) * 1000)

    def result(self, elapsed: float) -> dict[str, Any]:
        return {
            "elapsed_s": elapsed,
            "latencies_ms": self.latencies_ms,
            "lag_ms": self.lag_ms,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
        }


async def open_loop(
    url: str, bodies: list[bytes], rate: float, seconds: float, conns: int, method: str
) -> Any:
    """Request i at start + i/rate for `seconds`."""
    recorder = Recorder(method)
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        start = loop.time() + 0.05
        for i in range(round(rate * seconds)):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            recorder.lag_ms.append(max(0.0, loop.time() - scheduled) * 1000)
            body = bodies[i % len(bodies)]
            tasks.append(asyncio.create_task(recorder.send(session, url, body)))
        await asyncio.gather(*tasks)
        return recorder.result(loop.time() - start)


async def closed_loop(
    url: str, bodies: list[bytes], seconds: float, conns: int, method: str
) -> Any:
    """`conns` clients, each sending its next request as soon as the previous one answers."""
    recorder = Recorder(method)
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = loop.time()
        end = start + seconds

        async def client(offset: int) -> None:
            i = offset
            while loop.time() < end:
                await recorder.send(session, url, bodies[i % len(bodies)])
                i += conns

        await asyncio.gather(*(client(c) for c in range(conns)))
        return recorder.result(loop.time() - start)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("mode", choices=("open", "closed"))
    parser.add_argument("url")
    parser.add_argument("bodies", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--method", choices=("POST", "GET"), default="POST")
    args = parser.parse_args()
    bodies = [line.encode() for line in args.bodies.read_text().splitlines() if line]
    started = time.perf_counter()
    if args.mode == "open":
        coro = open_loop(args.url, bodies, args.rate, args.seconds, args.connections, args.method)
    else:
        coro = closed_loop(args.url, bodies, args.seconds, args.connections, args.method)
    result = asyncio.run(coro)
    result["wall_s"] = time.perf_counter() - started
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
