"""A small HTTP load generator: closed-loop clients, or open-loop Poisson arrivals at a fixed rate.

Bodies are serialised before the clock starts and answers are not parsed during a run, so the
generator spends little of the (shared) CPU. Latency is measured per request from the moment it was
due (open loop: its scheduled arrival, so a slow server cannot hide queueing from the numbers).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class RunStats:
    mode: str  # "closed" or "open"
    concurrency: int | None
    rate_rps: float | None
    seconds: float
    requests: int
    pairs: int
    errors: int
    pairs_per_s: float
    requests_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    first_error: str | None = None
    start: int = 0  # index of the first request body sent (bodies are sent in order)
    sent: int = 0  # how many were sent

    def to_dict(self) -> dict:
        return asdict(self)


def _stats(
    mode: str,
    latencies: list[float],
    pairs: int,
    errors: int,
    seconds: float,
    *,
    concurrency: int | None = None,
    rate: float | None = None,
    first_error: str | None = None,
) -> RunStats:
    lat = np.asarray(latencies) * 1000.0
    pct = (lambda q: float(np.percentile(lat, q))) if lat.size else (lambda q: None)
    return RunStats(
        mode=mode,
        concurrency=concurrency,
        rate_rps=rate,
        seconds=round(seconds, 3),
        requests=len(latencies),
        pairs=pairs,
        errors=errors,
        pairs_per_s=pairs / seconds if seconds else 0.0,
        requests_per_s=len(latencies) / seconds if seconds else 0.0,
        p50_ms=pct(50),
        p95_ms=pct(95),
        p99_ms=pct(99),
        mean_ms=float(lat.mean()) if lat.size else None,
        first_error=first_error,
    )


class Target:
    """One endpoint and its pre-serialised request bodies (with each body's pair count)."""

    def __init__(self, url: str, bodies: Sequence[dict], sizes: Sequence[int]) -> None:
        self.url = url
        self.bodies = [json.dumps(b, ensure_ascii=False).encode() for b in bodies]
        self.sizes = list(sizes)


async def _post(session, target: Target, i: int) -> tuple[bool, str | None]:
    async with session.post(
        target.url, data=target.bodies[i], headers={"Content-Type": "application/json"}
    ) as resp:
        await resp.read()
        if resp.status != 200:
            return False, f"HTTP {resp.status}"
        return True, None


async def closed_loop(target: Target, *, concurrency: int, seconds: float, start: int = 0) -> RunStats:
    """`concurrency` clients, each sending its next request as soon as the previous answer arrived."""
    import aiohttp

    latencies: list[float] = []
    counters = {"pairs": 0, "errors": 0, "next": start}
    first_error: list[str] = []
    n = len(target.bodies)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < deadline:
                i = counters["next"] % n
                counters["next"] += 1
                t0 = time.perf_counter()
                try:
                    ok, err = await _post(session, target, i)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    ok, err = False, repr(exc)
                if ok:
                    latencies.append(time.perf_counter() - t0)
                    counters["pairs"] += target.sizes[i]
                else:
                    counters["errors"] += 1
                    if not first_error:
                        first_error.append(err or "?")

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    stats = _stats(
        "closed",
        latencies,
        counters["pairs"],
        counters["errors"],
        elapsed,
        concurrency=concurrency,
        first_error=first_error[0] if first_error else None,
    )
    stats.start, stats.sent = start, counters["next"] - start
    return stats


async def open_loop(
    target: Target, *, rate_rps: float, seconds: float, seed: int = 0, start: int = 0
) -> RunStats:
    """Poisson arrivals at `rate_rps` for `seconds`; latency counted from each request's due time."""
    import aiohttp

    rng = random.Random(seed)
    latencies: list[float] = []
    counters = {"pairs": 0, "errors": 0}
    first_error: list[str] = []
    n = len(target.bodies)
    connector = aiohttp.TCPConnector(limit=1024)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int, due: float) -> None:
            try:
                ok, err = await _post(session, target, i)
            except (TimeoutError, aiohttp.ClientError) as exc:
                ok, err = False, repr(exc)
            if ok:
                latencies.append(time.perf_counter() - due)
                counters["pairs"] += target.sizes[i]
            else:
                counters["errors"] += 1
                if not first_error:
                    first_error.append(err or "?")

        tasks = []
        t0 = time.perf_counter()
        due = t0
        k = start
        while due < t0 + seconds:
            due += rng.expovariate(rate_rps)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(k % n, due)))
            k += 1
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    stats = _stats(
        "open",
        latencies,
        counters["pairs"],
        counters["errors"],
        elapsed,
        rate=rate_rps,
        first_error=first_error[0] if first_error else None,
    )
    stats.start, stats.sent = start, k - start
    return stats


async def fetch_scores(url: str, bodies: Sequence[dict], parse) -> list[list[float]]:
    """Answers to `bodies` (sequentially), parsed to score lists — the correctness probe."""
    import aiohttp

    out = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        for body in bodies:
            async with session.post(url, json=body) as resp:
                payload = await resp.json(content_type=None)
                if resp.status != 200:
                    raise RuntimeError(f"{url}: HTTP {resp.status}: {str(payload)[:300]}")
                out.append(parse(payload))
    return out
