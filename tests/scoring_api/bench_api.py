"""Latency and throughput of the scoring API (not a test: run it by hand).

Needs an initialised stack and a trained model, addressed by the CREDIT_* variables:

    .venv/bin/python tests/scoring_api/bench_api.py inprocess          # ASGI, no network
    .venv/bin/credit-pipeline serve --workers 2 &
    .venv/bin/python tests/scoring_api/bench_api.py http --connections 32 --seconds 10
    .venv/bin/python tests/scoring_api/bench_api.py http --rate 200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg2

from core.contract import ENTITY_KEYS, LOAN_REQUEST_COLUMNS
from core.settings import Settings

PATH = "/v1/loan-decisions"


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def applications(settings: Settings, n: int) -> list[dict[str, Any]]:
    names = [*ENTITY_KEYS, *(c.name for c in LOAN_REQUEST_COLUMNS)]
    columns = ", ".join(f'"{c}"' for c in names)
    with psycopg2.connect(**settings.postgres_connect_kwargs()) as conn, conn.cursor() as cur:
        cur.execute(
            f'SELECT {columns} FROM "{settings.postgres_schema}".loans '  # noqa: S608
            "ORDER BY event_timestamp DESC LIMIT %s",
            (n,),
        )
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def summary(name: str, seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return (
        f"{name:<34} n={len(ms):>6}  p50 {np.percentile(ms, 50):6.3f} ms  "
        f"p99 {np.percentile(ms, 99):6.3f} ms  max {ms.max():7.3f} ms"
    )


async def inprocess(settings: Settings, n: int) -> None:
    import httpx
    from starlette.concurrency import run_in_threadpool

    from core.api_keys import KeyStore
    from scoring_api.core.auth import Caller, current_caller
    from scoring_api.main import create_app

    apps = applications(settings, n)
    app = create_app(settings)
    _, key = KeyStore(settings).create(f"bench-{time.time_ns()}", ["score", "features:read"])
    given = Caller("bench", frozenset({"score", "features:read"}))

    async def without_key_check(a: dict[str, Any]) -> Any:
        app.dependency_overrides[current_caller] = lambda: given
        try:
            return await client.post(PATH, json=a)
        finally:
            app.dependency_overrides.clear()

    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        reader, scorer, store = runtime.scorer.reader, runtime.scorer, runtime.store
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers=headers
        ) as client:
            for label, call in (
                ("full request (httpx ASGI client)", lambda a: client.post(PATH, json=a)),
                ("full request, caller given (no key)", without_key_check),
                ("full request (again, with the key)", lambda a: client.post(PATH, json=a)),
                ("full request, caller given (again)", without_key_check),
                ("scorer (read + model + rules)", scorer.score),
                (
                    "feature read (CREDIT_ONLINE_READER)",
                    lambda a: reader.read({k: a[k] for k in ENTITY_KEYS}, datetime.now(UTC)),
                ),
                (
                    "feature read, sync Feast in thread",
                    lambda a: run_in_threadpool(
                        store.get_online_features,
                        features=runtime.model.feature_refs,
                        entity_rows=[{k: a[k] for k in ENTITY_KEYS}],
                        full_feature_names=True,
                    ),
                ),
            ):
                for a in apps[:50]:  # warm-up
                    await call(a)
                times = []
                for a in apps:
                    started = time.perf_counter()
                    await call(a)
                    times.append(time.perf_counter() - started)
                _out(summary(label, times))
        model = runtime.model
        rows = [
            [a[c.name] for c in model.columns.request] + [1.0] * len(model.feature_refs)
            for a in apps
        ]
        times = []
        for row in rows:
            started = time.perf_counter()
            model.p_default(row)
            times.append(time.perf_counter() - started)
        _out(summary("model (compiled, inline)", times))


async def _one_connection(
    host: str,
    port: int,
    bodies: list[bytes],
    stop: float,
    interval: float | None,
    offset: float,
    times: list[float],
    errors: list[int],
    api_key: str,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    # Connections fire in turn, not all at once (a burst of N is queueing, not latency).
    next_at = time.perf_counter() + offset
    while time.perf_counter() < stop:
        if interval is not None:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        body = bodies[i % len(bodies)]
        i += 1
        request = (
            f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        payload = await reader.readexactly(length)
        times.append(time.perf_counter() - started)
        if not head.startswith(b"HTTP/1.1 200"):
            if not errors:
                _out(f"first error: {head[:12].decode()} {payload[:300].decode()}")
            errors.append(int(head[9:12]))
    writer.close()


async def http(
    settings: Settings, url: str, connections: int, seconds: float, rate: float | None
) -> None:
    host, port = url.split("//")[1].split(":")
    bodies = [json.dumps(a).encode() for a in applications(settings, 1000)]
    times: list[float] = []
    errors: list[int] = []
    interval = connections / rate if rate else None
    stop = time.perf_counter() + seconds
    started = time.perf_counter()
    step = (interval or 0) / connections
    api_key = settings.client_api_key() or ""  # CREDIT_API_KEY, or the running demo's
    await asyncio.gather(
        *(
            _one_connection(
                host, int(port), bodies, stop, interval, k * step, times, errors, api_key
            )
            for k in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    mode = f"open loop {rate:.0f} req/s" if rate else "closed loop"
    _out(summary(f"HTTP {mode}, {connections} conns", times))
    _out(
        f"throughput {len(times) / elapsed:,.0f} req/s; non-200: {len(errors)} "
        f"{statistics.mode(errors) if errors else ''}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    one = sub.add_parser("inprocess")
    one.add_argument("-n", type=int, default=1000)
    net = sub.add_parser("http")
    net.add_argument("--url", default="http://127.0.0.1:8000")
    net.add_argument("--connections", type=int, default=32)
    net.add_argument("--seconds", type=float, default=10)
    net.add_argument("--rate", type=float, help="open loop at this many req/s in total")
    args = parser.parse_args()
    settings = Settings()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.mode == "inprocess":
        asyncio.run(inprocess(settings, args.n))
    else:
        asyncio.run(http(settings, args.url, args.connections, args.seconds, args.rate))


if __name__ == "__main__":
    main()
