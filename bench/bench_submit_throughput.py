"""REST job submissions per second and their latency in production mode (PostgreSQL + Redis).

Run by hand:  .venv/bin/python bench/bench_submit_throughput.py [--server uvicorn|daphne] [--web 2]
              [--load wrk|httpx] [--clients 16] [--seconds 15] [--requests 2000] [--redis-db 13]

Creates a throwaway PostgreSQL database on 127.0.0.1:5432 (user postgres, trust auth) and drops it
afterwards; flushes Redis db --redis-db on 127.0.0.1:6379 before and after; starts the web tier with
QPORTAL_EMBEDDED_WORKER=False:
  --server uvicorn  one `uvicorn --workers N --loop uvloop --http httptools qportal.asgi:application`
                    (N = --web processes sharing one listening socket), as README's production mode
  --server daphne   --web separate `daphne -b 127.0.0.1 -p P qportal.asgi:application` processes
No worker runs, so the jobs stay queued: this measures the submit path alone (validation, one
transaction with job + circuit + first event, wake-up and live event to Redis after commit).

Load: --clients concurrent keep-alive connections in a closed loop (each sends its next request when
the previous answer arrived), spread over the daphne ports (uvicorn: one port), two phases after a
warm-up of each:
  baseline   GET /api/v1/jobs/{id} of a one-circuit job (authenticated, a few indexed queries)
  submit     POST /api/v1/jobs with a Bell circuit on profile `local`
  --load wrk    (default when /usr/bin/wrk exists; Debian package `wrk`) one wrk thread, --seconds per
                phase; a Lua script counts answers other than 200/201 and reports wrk's latency
                percentiles.  wrk is C and uses a few percent of one CPU at these rates.
  --load httpx  asyncio + httpx clients in this process, --requests per phase (costs a good part of
                a CPU at these rates, which the servers then lack).
The load generator shares the machine's CPUs with the servers, PostgreSQL and Redis.  Rates depend on
what else runs on the machine, so each phase also prints the CPU time it cost per request: the web
processes, this database's PostgreSQL backends, the Redis server and the client (from /proc).
Targets: >= 300 submissions/s and p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._portal import (  # noqa: E402
    BELL,
    daphne_args,
    free_port,
    load,
    percentile,
    production_portal,
    summary_ms,
    uvicorn_args,
)

SUBMIT = {"profile": "local", "shots": 1000, "name": "bench", "circuits": [{"qasm": BELL}]}

WRK_SCRIPT = """
wrk.method = %(method)s
wrk.body = %(body)s
wrk.headers["Authorization"] = %(auth)s
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) unexpected = 0 end
function response(status, headers, body)
  if status ~= %(expect)d then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("unexpected") end
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration, bad,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
"""


@dataclass
class Phase:
    """One measured phase: requests answered, seconds, latency percentiles in seconds."""

    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    detail: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def lua_str(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this ASCII text


def wrk_phase(bases: list[str], headers: dict, args, method: str, path: str, body, expect: int, seconds: float):
    """Run one wrk per base URL at once (connections split over them); sum their counts."""
    script_dir = Path(tempfile.mkdtemp(prefix="qportal-wrk-"))
    script = script_dir / "phase.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "method": lua_str(method),
            "body": lua_str(json.dumps(body)) if body is not None else "nil",
            "auth": lua_str(headers["Authorization"]),
            "expect": expect,
        }
    )
    conns = [args.clients // len(bases) + (i < args.clients % len(bases)) for i in range(len(bases))]
    procs = [
        subprocess.Popen(
            [args.wrk, "-t1", f"-c{c}", f"-d{seconds:.0f}s", "--timeout", "30s", "-s", str(script), base + path],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for base, c in zip(bases, conns, strict=True)
        if c
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            raise RuntimeError(f"wrk failed:\n{out}")
        results.append([int(x) for x in line.split()[1:]])
    shutil.rmtree(script_dir, ignore_errors=True)
    requests = sum(r[0] for r in results)
    bad = sum(r[2] for r in results)
    errors = sum(r[3] for r in results)
    if bad or errors:
        raise RuntimeError(f"{method} {path}: {bad} answers other than {expect}, {errors} socket errors/timeouts")
    # With several wrk processes the percentiles are those of the slowest one (an upper bound).
    p50, p95, p99 = (max(r[i] for r in results) / 1e6 for i in (4, 5, 6))
    seconds = max(r[1] for r in results) / 1e6
    return Phase(requests, seconds, p50, p95, p99, f"p50 {p50 * 1e3:7.2f} ms  p95 {p95 * 1e3:7.2f} ms  "
                 f"p99 {p99 * 1e3:7.2f} ms  max {max(r[7] for r in results) / 1e3:7.1f} ms  (n={requests})")  # fmt: skip


async def httpx_phase(bases: list[str], headers: dict, args, method: str, path: str, body, expect: int, requests: int):
    """Send ``requests`` requests from ``--clients`` asyncio + httpx clients in this process."""
    import httpx

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
    await asyncio.gather(*(client(bases[i % len(bases)]) for i in range(args.clients)))
    seconds = time.perf_counter() - started
    return Phase(
        len(latencies),
        seconds,
        statistics.median(latencies),
        percentile(latencies, 95),
        percentile(latencies, 99),
        summary_ms(latencies),
    )


def measure(bases, headers, args, method, path, body, expect, warm: bool):
    if args.load == "wrk":
        return wrk_phase(bases, headers, args, method, path, body, expect, 3 if warm else args.seconds)
    requests = max(args.requests // 10, 50) if warm else args.requests
    return asyncio.run(httpx_phase(bases, headers, args, method, path, body, expect, requests))


def _cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:
        return [pid]
    return [pid, *(p for c in children for p in _tree(c))]


class CpuMeter:
    """CPU seconds spent during a phase by the web processes, this database's PostgreSQL backends,
    the Redis server (shared with other users of the machine: an upper bound) and the client (wrk, or
    this process with --load httpx)."""

    def __init__(self, portal):
        self.portal = portal
        self.db = portal.env["DATABASE_URL"].rsplit("/", 1)[1]

    def sample(self) -> dict:
        web = [p for proc in self.portal.procs for p in _tree(proc.pid)]
        backends = self.portal.sql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.db}'")
        redis = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True).stdout.split()
        client = [resource.getrusage(who) for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF)]
        return {
            "web": sum(map(_cpu, web)),
            "postgres": {pid: _cpu(pid) for (pid,) in backends},
            "redis": sum(_cpu(int(p)) for p in redis),
            "client": sum(r.ru_utime + r.ru_stime for r in client),
        }

    def measure(self, fn):
        before = self.sample()
        result = fn()
        after = self.sample()
        used = {k: after[k] - before[k] for k in ("web", "redis", "client")}
        # Backends still there at the end (pooled ones are); one that ended during the phase is lost.
        used["postgres"] = sum(cpu - before["postgres"].get(pid, 0.0) for pid, cpu in after["postgres"].items())
        return result, used


def cpu_line(phase: Phase, used: dict) -> str:
    per = {k: v / phase.requests * 1e3 for k, v in used.items()}
    return (
        f"CPU per request: web {per['web']:.2f} ms, PostgreSQL {per['postgres']:.2f} ms, "
        f"Redis {per['redis']:.2f} ms, client {per['client']:.2f} ms"
    )


def run(portal, bases: list[str], args) -> None:
    headers = portal.headers()
    import httpx

    job = httpx.post(bases[0] + "/api/v1/jobs", json=SUBMIT, headers=headers).json()["id"]
    get = ("GET", f"/api/v1/jobs/{job}", None, 200)
    post = ("POST", "/api/v1/jobs", SUBMIT, 201)
    measure(bases, headers, args, *get, warm=True)
    measure(bases, headers, args, *post, warm=True)
    before = portal.sql("SELECT count(*) FROM jobs_job")[0][0]

    how = f"{args.seconds} s per phase" if args.load == "wrk" else f"{args.requests} requests per phase"
    web = f"{args.web} {args.server} process(es)"
    print(f"{args.clients} concurrent keep-alive connections ({args.load}) over {web}, {how}")
    meter = CpuMeter(portal)
    base, base_cpu = meter.measure(lambda: measure(bases, headers, args, *get, warm=False))
    sub, sub_cpu = meter.measure(lambda: measure(bases, headers, args, *post, warm=False))
    stored = portal.sql("SELECT count(*) FROM jobs_job")[0][0] - before
    print(f"  {'baseline GET /api/v1/jobs/{id}':<30} {base.rate:7.1f} req/s   {base.detail}")
    print(f"  {'submit POST /api/v1/jobs':<30} {sub.rate:7.1f} req/s   {sub.detail}")
    print(f"  {'baseline GET':<30} {cpu_line(base, base_cpu)}")
    print(f"  {'submit POST':<30} {cpu_line(sub, sub_cpu)}")
    print(f"  submit vs baseline: rate {sub.rate / base.rate:4.2f}x, p50 {sub.p50 / base.p50:4.2f}x")
    print(
        f"  target >= 300 jobs/s: {'met' if sub.rate >= 300 else 'MISSED'} ({sub.rate:.0f});  "
        f"target p99 < 100 ms: {'met' if sub.p99 < 0.1 else 'MISSED'} ({sub.p99 * 1e3:.0f} ms)"
    )
    time.sleep(1)  # let requests still in flight when the phase ended commit
    broken = portal.sql(
        "SELECT count(*) FROM jobs_job j WHERE j.num_circuits <> (SELECT count(*) FROM jobs_jobcircuit c "
        "WHERE c.job_id = j.id) OR NOT EXISTS (SELECT 1 FROM jobs_jobevent e WHERE e.job_id = j.id AND e.seq = 1 "
        "AND e.kind = 'queued') OR j.last_seq <> 1"
    )[0][0]
    print(
        f"  jobs stored during the measured phase: {stored} (answered 201: {sub.requests}; the rest were in "
        f"flight when the phase ended); jobs without all their circuits or their one 'queued' event: {broken}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--web", type=int, default=2, help="web server processes")
    parser.add_argument("--load", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="path of the wrk binary")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--seconds", type=int, default=15, help="wrk: seconds per measured phase")
    parser.add_argument("--requests", type=int, default=2000, help="httpx: requests per measured phase")
    parser.add_argument("--redis-db", type=int, default=13)
    args = parser.parse_args()

    print(f"before: {load()}")
    with production_portal(redis_db=args.redis_db) as portal:
        if args.server == "uvicorn":
            portal.spawn("uvicorn", uvicorn_args(portal.port, args.web), port=portal.port)
            ports = [portal.port]
        else:
            ports = [portal.port] + [free_port() for _ in range(args.web - 1)]
            for i, port in enumerate(ports):
                portal.spawn(f"daphne{i}", daphne_args(port), port=port)
        run(portal, [f"http://127.0.0.1:{port}" for port in ports], args)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
