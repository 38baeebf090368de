"""REST job submissions per second and their latency in production mode (PostgreSQL + Redis + daphne).

Run by hand:  .venv/bin/python bench/bench_submit_throughput.py [--requests 2000] [--clients 16]
              [--web 2] [--redis-db 13]

Creates a throwaway PostgreSQL database on 127.0.0.1:5432 (user postgres, trust auth) and drops it
afterwards; flushes Redis db --redis-db on 127.0.0.1:6379 before and after; starts --web daphne
processes (`daphne -b 127.0.0.1 -p P qportal.asgi:application`, QPORTAL_EMBEDDED_WORKER=False).
No worker runs, so the jobs stay queued: this measures the submit path alone (validation, one
transaction with job + circuit + first event, wake-up and live event to Redis after commit).
--clients concurrent asyncio + httpx clients (keep-alive), spread over the daphne processes, send
--requests requests each phase after a warm-up:
  baseline   GET /api/v1/jobs/{id} of a one-circuit job (authenticated, a few indexed queries)
  submit     POST /api/v1/jobs with a Bell circuit on profile `local`
The clients share the machine's CPUs with the servers, PostgreSQL and Redis.
Targets: >= 300 submissions/s and p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._portal import BELL, daphne_args, free_port, load, percentile, production_portal, summary_ms  # noqa: E402

SUBMIT = {"profile": "local", "shots": 1000, "name": "bench", "circuits": [{"qasm": BELL}]}


async def phase(
    bases: list[str], headers: dict, clients: int, requests: int, method: str, path: str, body: dict | None, expect: int
) -> tuple[float, list[float]]:
    """Send ``requests`` requests from ``clients`` concurrent clients; returns (seconds, latencies)."""
    latencies: list[float] = []
    remaining = [requests]

    async def client(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            while remaining[0] > 0:
                remaining[0] -= 1
                started = time.perf_counter()
                resp = await http.request(method, path, json=body)
                latencies.append(time.perf_counter() - started)
                if resp.status_code != expect:
                    raise RuntimeError(f"{method} {path} answered {resp.status_code}: {resp.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(client(bases[i % len(bases)]) for i in range(clients)))
    return time.perf_counter() - started, latencies


def report(name: str, seconds: float, latencies: list[float]) -> float:
    rate = len(latencies) / seconds
    print(f"  {name:<30} {rate:7.1f} req/s   {summary_ms(latencies)}")
    return rate


async def run(portal, ports: list[int], args) -> None:
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    headers = portal.headers()
    async with httpx.AsyncClient(base_url=bases[0], headers=headers) as http:
        job = (await http.post("/api/v1/jobs", json=SUBMIT)).json()["id"]
    warm = max(args.requests // 10, 50)
    await phase(bases, headers, args.clients, warm, "GET", f"/api/v1/jobs/{job}", None, 200)
    await phase(bases, headers, args.clients, warm, "POST", "/api/v1/jobs", SUBMIT, 201)

    print(f"{args.clients} concurrent clients over {len(ports)} daphne process(es), {args.requests} requests per phase")
    base_s, base_lat = await phase(bases, headers, args.clients, args.requests, "GET", f"/api/v1/jobs/{job}", None, 200)
    sub_s, sub_lat = await phase(bases, headers, args.clients, args.requests, "POST", "/api/v1/jobs", SUBMIT, 201)
    base_rate = report("baseline GET /api/v1/jobs/{id}", base_s, base_lat)
    sub_rate = report("submit POST /api/v1/jobs", sub_s, sub_lat)
    p99 = percentile(sub_lat, 99)
    p50_ratio = statistics.median(sub_lat) / statistics.median(base_lat)
    print(f"  submit vs baseline: rate {sub_rate / base_rate:4.2f}x, p50 {p50_ratio:4.2f}x")
    print(
        f"  target >= 300 jobs/s: {'met' if sub_rate >= 300 else 'MISSED'} ({sub_rate:.0f});  "
        f"target p99 < 100 ms: {'met' if p99 < 0.1 else 'MISSED'} ({p99 * 1e3:.0f} ms)"
    )
    stored = portal.sql("SELECT count(*) FROM jobs_job")[0][0]
    print(f"  jobs stored: {stored} (warm-up and measured submissions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measured phase")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--web", type=int, default=2, help="daphne processes")
    parser.add_argument("--redis-db", type=int, default=13)
    args = parser.parse_args()

    print(f"before: {load()}")
    with production_portal(redis_db=args.redis_db) as portal:
        ports = [portal.port] + [free_port() for _ in range(args.web - 1)]
        for i, port in enumerate(ports):
            portal.spawn(f"daphne{i}", daphne_args(port), port=port)
        asyncio.run(run(portal, ports, args))
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
