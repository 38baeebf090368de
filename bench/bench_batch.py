"""100 QASMBench circuits as one job, against one direct Aer SamplerV2 call with 100 PUBs.

Run by hand:  .venv/bin/python bench/bench_batch.py [--circuits 100] [--rounds 3] [--shots 1024]
              [--no-portal]

Circuits: the QASMBench programs in QPORTAL_QASMBENCH_DIR (default /work/shared/qasmbench) with
<= 10 qubits that qportal accepts, cycled to --circuits.  Measured in the same run, each the
median of --rounds:
  baseline   qiskit_aer.primitives.SamplerV2, one run() with all PUBs, max_parallel_threads=1
             (what the executor uses below 14 qubits; the default-threaded call is shown too)
  executor   executors.local.LocalSimulatorExecutor, single job, with process isolation enabled
             as the worker does (a 1-process pool, warmed up) and in a thread (no isolation)
  portal     POST /api/v1/jobs with all circuits on profile `local` (embedded default, real
             server), polling GET /api/v1/jobs/{id} every 20 ms until done
Circuits Aer cannot run directly are transpiled once before the baseline is timed (the executor
and the portal do that inside their timing).  Target: executor and portal within 1.2 x baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from qiskit import transpile  # noqa: E402
from qiskit_aer.primitives import SamplerV2  # noqa: E402

from bench._portal import embedded_portal, load  # noqa: E402
from executors import isolation  # noqa: E402
from executors.base import ExecutionRequest, ExecutorSpec, InvalidRequest  # noqa: E402
from executors.circuits import parse_circuit  # noqa: E402
from executors.local import LocalSimulatorExecutor  # noqa: E402

QASMBENCH = Path(os.environ.get("QPORTAL_QASMBENCH_DIR", Path(__file__).resolve().parents[2] / "shared" / "qasmbench"))


def corpus(count: int) -> tuple[list[str], list]:
    sources, circuits = [], []
    for path in sorted(QASMBENCH.glob("*.qasm")):
        text = path.read_text()
        try:
            circuit = parse_circuit({"qasm": text})
        except InvalidRequest:
            continue
        if circuit.num_qubits <= 10 and circuit.num_clbits:
            sources.append(text)
            circuits.append(circuit)
    if not sources:
        raise SystemExit(f"no usable QASMBench programs in {QASMBENCH}")
    return [sources[i % len(sources)] for i in range(count)], [circuits[i % len(circuits)] for i in range(count)]


def direct(circuits: list, shots: int, threads: int | None) -> float:
    options = {"backend_options": {"max_parallel_threads": threads}} if threads else {}
    started = time.perf_counter()
    SamplerV2(options=options).run([(c,) for c in circuits], shots=shots).result()
    return time.perf_counter() - started


def executor_run(circuits: list, shots: int) -> float:
    executor = LocalSimulatorExecutor(ExecutorSpec(kind="local", single_job=True))
    request = ExecutionRequest(circuits=circuits, shots=shots)
    started = time.perf_counter()
    asyncio.run(executor.run(request))
    return time.perf_counter() - started


def portal_run(client: httpx.Client, sources: list[str], shots: int) -> float:
    started = time.perf_counter()
    resp = client.post(
        "/api/v1/jobs", json={"profile": "local", "shots": shots, "circuits": [{"qasm": s} for s in sources]}
    )
    resp.raise_for_status()
    job = resp.json()["id"]
    deadline = started + 600
    while time.perf_counter() < deadline:
        status = client.get(f"/api/v1/jobs/{job}").json()["status"]
        if status == "done":
            return time.perf_counter() - started
        if status in ("failed", "cancelled"):
            raise RuntimeError(f"portal job {job} {status}")
        time.sleep(0.02)
    raise RuntimeError(f"portal job {job} not done after 600 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--no-portal", action="store_true", help="skip the real-server measurement")
    args = parser.parse_args()

    print(f"before: {load()}")
    sources, circuits = corpus(args.circuits)
    probe = LocalSimulatorExecutor()
    runnable = [
        transpile(c, backend=probe._backend, optimization_level=0) if probe.needs_transpile(c) else c for c in circuits
    ]
    print(f"{len(circuits)} circuits ({len(set(sources))} distinct programs, <= 10 qubits), {args.shots} shots")

    times: dict[str, list[float]] = {
        "baseline": [],
        "baseline, default threads": [],
        "executor, isolated": [],
        "executor, in thread": [],
        "portal": [],
    }
    isolation.enable(1)
    isolation.warm_up()
    direct(runnable, args.shots, 1)  # warm Aer in this process
    executor_run(circuits, args.shots)  # and the child's caches
    for _ in range(args.rounds):
        times["baseline"].append(direct(runnable, args.shots, 1))
        times["baseline, default threads"].append(direct(runnable, args.shots, None))
        times["executor, isolated"].append(executor_run(circuits, args.shots))
    isolation.disable()
    for _ in range(args.rounds):
        times["executor, in thread"].append(executor_run(circuits, args.shots))
    if not args.no_portal:
        with (
            embedded_portal(QPORTAL_SIM_PROCESSES="1") as portal,
            httpx.Client(base_url=portal.base, headers=portal.headers(), timeout=60) as client,
        ):
            portal_run(client, sources[:5], args.shots)
            for _ in range(args.rounds):
                times["portal"].append(portal_run(client, sources, args.shots))
                times["baseline"].append(direct(runnable, args.shots, 1))
    base = statistics.median(times["baseline"])
    for name, samples in times.items():
        if not samples:
            continue
        median = statistics.median(samples)
        met = "met" if median <= 1.2 * base else "MISSED"
        verdict = "" if name.startswith("baseline") else f"   target <= 1.2x: {met}"
        runs = ", ".join(f"{s * 1e3:.0f}" for s in samples)
        print(f"  {name:<26} median {median * 1e3:8.0f} ms   ratio {median / base:5.2f}x   runs [{runs}]{verdict}")
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
