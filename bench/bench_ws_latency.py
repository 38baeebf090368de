"""Worker event -> websocket frame latency, 200 team-stream sockets over Redis (uvicorn or daphne).

Run by hand:  .venv/bin/python bench/bench_ws_latency.py [--sockets 200] [--jobs 20] [--web 1]
              [--redis-db 13] [--server uvicorn|daphne]

Production mode on loopback: a throwaway PostgreSQL database (dropped afterwards), Redis db
--redis-db (flushed before and after), --web web server processes (uvicorn, README's production
command, by default; daphne with --server daphne) and one `manage.py runworker`
(QPORTAL_SIM_PROCESSES=1).  Clients log in by a session row written for the user (the
websocket checks the session cookie and the Origin header) and connect to `/ws/jobs/`, spread
over the web processes.  The driver submits --jobs Bell jobs one after another over REST; the
worker claims and runs each, and every state change is an event fanned out to the team group.
Latency = frame arrival at a client - the event's `created` timestamp (JobEvent.created, set in
the transaction just before commit; same machine clock).  Worker events (claimed, running,
progress, done) are reported apart from the web process's `queued` event.
Baseline in the same run: the same jobs with a single socket connected.  Target: p95 < 50 ms.

The latency is split in two with a separate process subscribed to the portal's event channel
(`qportal.jobs.fanout`), which notes when each event's PUBLISH reaches Redis subscribers:
created -> published (the publisher's commit and PUBLISH) and published -> frame (the web
processes' fan-out to their sockets and the client reading them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._portal import (  # noqa: E402
    BELL,
    PYTHON,
    WebSocket,
    daphne_args,
    free_port,
    load,
    percentile,
    production_portal,
    summary_ms,
)


class Listener:
    """Reads every socket; records (kind, latency) per event frame; signals when a job is done."""

    def __init__(self) -> None:
        self.samples: list[tuple[str, float]] = []
        self.arrivals: list[tuple[str, int, float]] = []  # (job, seq, arrival) of recorded frames
        self.done: dict[str, asyncio.Event] = {}
        self.sockets: list[WebSocket] = []
        self.tasks: list[asyncio.Task] = []
        self.recording = False

    async def add(self, port: int, session: str) -> None:
        ws = await WebSocket.connect(port, "/ws/jobs/", session)
        hello = await ws.recv()
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected a hello frame, got {hello}")
        self.sockets.append(ws)
        self.tasks.append(asyncio.create_task(self._read(ws)))

    async def _read(self, ws: WebSocket) -> None:
        while True:
            frame = await ws.recv()
            arrived = time.time()
            if "created" not in frame:
                continue
            if self.recording:
                created = datetime.fromisoformat(frame["created"]).timestamp()
                self.samples.append((frame["kind"], arrived - created))
                self.arrivals.append((frame["job"], frame["seq"], arrived))
            if frame.get("status") in ("done", "failed", "cancelled"):
                self.done.setdefault(frame["job"], asyncio.Event()).set()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in self.sockets))


async def run_jobs(http: httpx.AsyncClient, listener: Listener, jobs: int) -> None:
    for _ in range(jobs):
        resp = await http.post("/api/v1/jobs", json={"profile": "local", "shots": 1000, "circuits": [{"qasm": BELL}]})
        resp.raise_for_status()
        job = resp.json()["id"]
        await asyncio.wait_for(listener.done.setdefault(job, asyncio.Event()).wait(), 60)
        await asyncio.sleep(0.1)  # let the last frames reach every socket


def report(name: str, samples: list[tuple[str, float]]) -> float:
    worker = [s for kind, s in samples if kind != "queued"]
    web = [s for kind, s in samples if kind == "queued"]
    print(f"  {name}")
    print(f"    worker events   {summary_ms(worker)}")
    if web:
        print(f"    queued (web)    {summary_ms(web)}")
    return percentile(worker, 95)


# Runs in its own process: one line "<unix time> <frame json>" per event published by the portal.
TAP = """
import sys, time, redis
pubsub = redis.Redis.from_url(sys.argv[1]).pubsub(ignore_subscribe_messages=True)
pubsub.subscribe(sys.argv[2])
print("ready", flush=True)
for msg in pubsub.listen():
    print(time.time(), msg["data"].decode().partition("\\n")[2].replace("\\n", " "), flush=True)
"""


def start_tap(redis_url: str, channel: str) -> subprocess.Popen:
    tap = subprocess.Popen([PYTHON, "-c", TAP, redis_url, channel], stdout=subprocess.PIPE, text=True)
    if tap.stdout.readline().strip() != "ready":
        raise RuntimeError("event tap did not start")
    return tap


def read_tap(tap: subprocess.Popen) -> dict[tuple[str, int], float]:
    tap.terminate()
    out, _ = tap.communicate(timeout=10)
    published = {}
    for line in out.splitlines():
        when, _, text = line.partition(" ")
        frame = json.loads(text)
        published[(frame["job"], frame["seq"])] = float(when)
    return published


def split(listener_samples, arrivals, published) -> None:
    """created -> published and published -> frame, worker events only."""
    created_to_pub, pub_to_frame = [], []
    for (kind, latency), (job, seq, arrived) in zip(listener_samples, arrivals, strict=True):
        if kind == "queued" or (job, seq) not in published:
            continue
        pub_to_frame.append(arrived - published[(job, seq)])
        created_to_pub.append(latency - pub_to_frame[-1])
    if pub_to_frame:
        print(f"    created -> published   {summary_ms(created_to_pub)}")
        print(f"    published -> frame     {summary_ms(pub_to_frame)}")


async def run(portal, ports: list[int], args, tap: subprocess.Popen) -> None:
    session = portal.session_cookie()
    listener = Listener()
    async with httpx.AsyncClient(base_url=portal.base, headers=portal.headers(), timeout=30) as http:
        await listener.add(ports[0], session)
        await run_jobs(http, listener, 3)  # warm-up: worker, simulator process, channel layer
        listener.recording = True
        await run_jobs(http, listener, args.jobs)
        listener.recording = False
        baseline, base_arrivals = list(listener.samples), list(listener.arrivals)
        listener.samples.clear()
        listener.arrivals.clear()

        started = time.perf_counter()
        for i in range(1, args.sockets):
            await listener.add(ports[i % len(ports)], session)
        print(f"connected {args.sockets} sockets in {time.perf_counter() - started:.1f} s")
        await run_jobs(http, listener, 2)
        listener.recording = True
        await run_jobs(http, listener, args.jobs)
        listener.recording = False
        loaded = list(listener.samples)
        await listener.close()
    published = read_tap(tap)

    print(f"{args.jobs} Bell jobs, {len(ports)} {args.server} process(es), 1 worker, Redis pub/sub fan-out")
    base_p95 = report("baseline: 1 socket", baseline)
    split(baseline, base_arrivals, published)
    p95 = report(f"{args.sockets} sockets on /ws/jobs/", loaded)
    split(loaded, listener.arrivals, published)
    frames = sum(1 for kind, _ in loaded if kind != "queued")
    print(f"    {frames} worker-event frames received, {frames / max(args.sockets, 1):.0f} per socket")
    base_p50 = statistics.median(s for k, s in baseline if k != "queued")
    p50 = statistics.median(s for k, s in loaded if k != "queued")
    print(f"  ratio vs 1 socket: p50 {p50 / base_p50:5.1f}x, p95 {p95 / base_p95:5.1f}x")
    print(f"  target p95 < 50 ms: {'met' if p95 < 0.05 else 'MISSED'} ({p95 * 1e3:.1f} ms)")


def server_args(server: str, port: int) -> list[str]:
    if server == "daphne":
        return daphne_args(port)
    uvicorn = str(Path(PYTHON).parent / "uvicorn")
    return [uvicorn, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "qportal.asgi:application"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=20, help="jobs per phase")
    parser.add_argument("--web", type=int, default=1, help="web server processes")
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--redis-db", type=int, default=13)
    args = parser.parse_args()

    print(f"before: {load()}")
    with production_portal(redis_db=args.redis_db, QPORTAL_SIM_PROCESSES="1") as portal:
        tap = start_tap(portal.env["REDIS_URL"], f"qportal.events.{args.redis_db}")
        ports = [portal.port] + [free_port() for _ in range(args.web - 1)]
        for i, port in enumerate(ports):
            portal.spawn(f"{args.server}{i}", server_args(args.server, port), port=port)
        worker = [PYTHON, "manage.py", "runworker", "--worker-id", "bench-worker", "--concurrency", "4"]
        portal.spawn("worker", worker, wait=False)
        asyncio.run(run(portal, ports, args, tap))
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
