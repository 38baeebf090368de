"""REST submit -> result latency of a Bell circuit on profile `local`, against a direct Aer call.

Run by hand:  .venv/bin/python bench/bench_rest_latency.py [--jobs 50] [--poll-ms 5] [--shots 1024]

Starts the embedded default as a real server (`manage.py migrate`, `manage.py serve` in a
subprocess, temp data dir and secrets), then for each job: POST /api/v1/jobs and wait until the
job is done, three ways:
  poll      GET /api/v1/jobs/{id} every --poll-ms until status is done
  job ws    open /ws/jobs/<id>/ right after the POST, wait for a frame with status done
  team ws   /ws/jobs/ opened once beforehand (what the dashboard does), wait for the done frame
  GET wait  one long-poll GET /api/v1/jobs/{id}?wait=30 right after the POST
  POST wait POST /api/v1/jobs?wait=30: one request answered with the finished job
The baseline, measured in the same run: qiskit-aer's SamplerV2 called in this process on the same
circuit and shots.  Target: p50 <= 2 x direct + 10 ms.
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

from bench._portal import BELL, WebSocket, embedded_portal, load, summary_ms  # noqa: E402

JOB_TIMEOUT = 30  # seconds; a job slower than this stops the benchmark


def direct_samples(jobs: int, shots: int) -> list[float]:
    from qiskit import QuantumCircuit
    from qiskit_aer.primitives import SamplerV2

    circuit = QuantumCircuit.from_qasm_str(BELL)
    samples = []
    for i in range(jobs + 5):
        started = time.perf_counter()
        SamplerV2(options={"backend_options": {"max_parallel_threads": 1}}).run([(circuit,)], shots=shots).result()
        if i >= 5:
            samples.append(time.perf_counter() - started)
    return samples


async def submit(client: httpx.AsyncClient, shots: int) -> str:
    resp = await client.post("/api/v1/jobs", json={"profile": "local", "shots": shots, "circuits": [{"qasm": BELL}]})
    resp.raise_for_status()
    return resp.json()["id"]


async def by_polling(client: httpx.AsyncClient, shots: int, poll: float) -> float:
    started = time.perf_counter()
    job = await submit(client, shots)
    while time.perf_counter() - started < JOB_TIMEOUT:
        resp = await client.get(f"/api/v1/jobs/{job}")
        status = resp.json()["status"]
        if status == "done":
            return time.perf_counter() - started
        if status in ("failed", "cancelled"):
            raise RuntimeError(f"job {job} {status}")
        await asyncio.sleep(poll)
    raise RuntimeError(f"job {job} not done after {JOB_TIMEOUT} s")


async def by_long_poll(client: httpx.AsyncClient, shots: int) -> float:
    started = time.perf_counter()
    job = await submit(client, shots)
    resp = await client.get(f"/api/v1/jobs/{job}", params={"wait": JOB_TIMEOUT})
    return _finished(resp, started)


async def by_submit_wait(client: httpx.AsyncClient, shots: int) -> float:
    started = time.perf_counter()
    resp = await client.post(
        "/api/v1/jobs",
        params={"wait": JOB_TIMEOUT},
        json={"profile": "local", "shots": shots, "circuits": [{"qasm": BELL}]},
    )
    return _finished(resp, started)


def _finished(resp: httpx.Response, started: float) -> float:
    took = time.perf_counter() - started
    resp.raise_for_status()
    body = resp.json()
    if body["status"] != "done" or not body["results"][0]["counts"]:
        raise RuntimeError(f"job {body['id']} {body['status']} after the wait")
    return took


async def by_job_socket(client: httpx.AsyncClient, port: int, session: str, shots: int) -> float:
    started = time.perf_counter()
    job = await submit(client, shots)
    ws = await WebSocket.connect(port, f"/ws/jobs/{job}/", session)
    try:
        while True:
            frame = await asyncio.wait_for(ws.recv(), JOB_TIMEOUT)
            if frame.get("status") == "done":
                # The frame says done; a client then fetches the results once.
                (await client.get(f"/api/v1/jobs/{job}")).raise_for_status()
                return time.perf_counter() - started
    finally:
        await ws.close()


async def by_team_socket(client: httpx.AsyncClient, ws: WebSocket, shots: int) -> float:
    started = time.perf_counter()
    job = await submit(client, shots)
    while True:
        frame = await asyncio.wait_for(ws.recv(), JOB_TIMEOUT)
        if frame.get("job") == job and frame.get("status") == "done":
            (await client.get(f"/api/v1/jobs/{job}")).raise_for_status()
            return time.perf_counter() - started


async def portal_samples(portal, jobs: int, shots: int, poll: float) -> dict[str, list[float]]:
    session = portal.session_cookie()
    results: dict[str, list[float]] = {"poll": [], "job ws": [], "team ws": [], "GET wait": [], "POST wait": []}
    async with httpx.AsyncClient(base_url=portal.base, headers=portal.headers(), timeout=30) as client:
        team = await WebSocket.connect(portal.port, "/ws/jobs/", session)
        await team.recv()  # hello
        for i in range(jobs + 3):  # the first rounds warm the server and the simulator processes
            for name, run in (
                ("poll", lambda: by_polling(client, shots, poll)),
                ("job ws", lambda: by_job_socket(client, portal.port, session, shots)),
                ("team ws", lambda: by_team_socket(client, team, shots)),
                ("GET wait", lambda: by_long_poll(client, shots)),
                ("POST wait", lambda: by_submit_wait(client, shots)),
            ):
                took = await run()
                if i >= 3:
                    results[name].append(took)
        await team.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50, help="jobs per method (default 50)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="polling interval (default 5 ms)")
    parser.add_argument("--shots", type=int, default=1024)
    args = parser.parse_args()

    print(f"before: {load()}")
    direct = direct_samples(args.jobs, args.shots)
    with embedded_portal() as portal:
        measured = asyncio.run(portal_samples(portal, args.jobs, args.shots, args.poll_ms / 1e3))
    direct_again = direct_samples(args.jobs, args.shots)  # the machine's load may have moved
    base = statistics.median(direct + direct_again)
    target = 2 * base + 0.010
    print(f"Bell circuit, {args.shots} shots, profile local (embedded default, SQLite)")
    print(f"  direct Aer SamplerV2 in-process  {summary_ms(direct + direct_again)}")
    for name, samples in measured.items():
        p50 = statistics.median(samples)
        verdict = "met" if p50 <= target else "MISSED"
        print(
            f"  portal, {name:<9} {summary_ms(samples)}   p50 ratio {p50 / base:6.1f}x   "
            f"target p50 <= {target * 1e3:.1f} ms: {verdict}"
        )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
