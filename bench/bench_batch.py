"""100 QASMBench circuits as one job, against one direct Aer SamplerV2 call with 100 PUBs.

Run by hand:  .venv/bin/python bench/bench_batch.py [--circuits 100] [--rounds 3] [--shots 1024]
              [--no-portal]

Circuits: the QASMBench programs in QPORTAL_QASMBENCH_DIR (default examples/qasmbench) with
<= 10 qubits that qportal accepts, cycled to --circuits.  Measured in the same run, each the
median of --rounds:
  baseline   qiskit_aer.primitives.SamplerV2, one run() with all PUBs, max_parallel_threads=1
             (what the executor uses below 14 qubits)
  best direct  the faster of the baseline and the same call with Aer's default threads (which
             may use every CPU)
  executor   executors.local.LocalSimulatorExecutor, single job, with process isolation enabled
             as the worker does (a warmed-up pool of 1, then of 2 processes: a large batch is
             split across the processes) and in a thread (no isolation)
  portal     POST /api/v1/jobs with all circuits on profile `local` (embedded default, real
             server, QPORTAL_SIM_PROCESSES=1 and =2), then either polling GET /api/v1/jobs/{id}
             every 20 ms (`poll`) or one POST /api/v1/jobs?wait=60 answered when done (`wait`)
Circuits Aer cannot run directly are transpiled once before the baseline is timed (the executor
and the portal do that inside their timing).  Target: within 1.2 x.  A row that uses one CPU for
the simulation is judged against the baseline; a row that uses two processes against the best
direct call, which may use both CPUs too.  On a shared machine the load swings within a run, so
the verdict uses paired ratios: each sample divided by the reference timed right after it, in the
same round (median over rounds).  Ratios of the whole run's medians are printed too.
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

QASMBENCH = Path(
    os.environ.get("QPORTAL_QASMBENCH_DIR", Path(__file__).resolve().parents[1] / "examples" / "qasmbench")
)


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


def portal_run(client: httpx.Client, sources: list[str], shots: int, wait: bool = False) -> float:
    """POST the job, then poll every 20 ms until done; with ``wait``, one POST ?wait=60 instead."""
    started = time.perf_counter()
    resp = client.post(
        "/api/v1/jobs",
        params={"wait": 60} if wait else {},
        json={"profile": "local", "shots": shots, "circuits": [{"qasm": s} for s in sources]},
    )
    resp.raise_for_status()
    job = resp.json()["id"]
    if wait:
        if resp.json()["status"] != "done":
            raise RuntimeError(f"portal job {job} {resp.json()['status']} after the wait")
        return time.perf_counter() - started
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
        "executor, isolated, 1 process": [],
        "executor, isolated, 2 processes": [],
        "executor, in thread": [],
        "portal, poll, 1 process": [],
        "portal, wait, 1 process": [],
        "portal, wait, 2 processes": [],
    }
    paired: dict[str, list[float]] = {name: [] for name in times}  # sample / its round's reference

    def record(name: str, sample: float, base_round: float, best_round: float) -> None:
        times[name].append(sample)
        paired[name].append(sample / (best_round if name.endswith("2 processes") else base_round))

    def references() -> tuple[float, float]:
        one = direct(runnable, args.shots, 1)
        default = direct(runnable, args.shots, None)
        times["baseline"].append(one)
        times["baseline, default threads"].append(default)
        return one, min(one, default)

    direct(runnable, args.shots, 1)  # warm Aer in this process
    for processes in (1, 2):
        isolation.enable(processes)
        isolation.warm_up()
        executor_run(circuits, args.shots)  # warm the children's caches
        for _ in range(args.rounds):
            sample = executor_run(circuits, args.shots)
            record(f"executor, isolated, {processes} process{'es' if processes > 1 else ''}", sample, *references())
    isolation.disable()
    for _ in range(args.rounds):
        sample = executor_run(circuits, args.shots)
        record("executor, in thread", sample, *references())
    if not args.no_portal:
        for processes in (1, 2):
            with (
                embedded_portal(QPORTAL_SIM_PROCESSES=str(processes)) as portal,
                httpx.Client(base_url=portal.base, headers=portal.headers(), timeout=60) as client,
            ):
                portal_run(client, sources[:5], args.shots)
                portal_run(client, sources, args.shots)  # warm the children (imports, Aer targets)
                for _ in range(args.rounds):
                    samples = {}
                    if processes == 1:
                        samples["portal, poll, 1 process"] = portal_run(client, sources, args.shots)
                    name = f"portal, wait, {processes} process{'es' if processes > 1 else ''}"
                    samples[name] = portal_run(client, sources, args.shots, wait=True)
                    round_references = references()
                    for name, sample in samples.items():
                        record(name, sample, *round_references)
    base = statistics.median(times["baseline"])
    best = min(base, statistics.median(times["baseline, default threads"]))
    print(f"  baseline {base * 1e3:.0f} ms, best direct {best * 1e3:.0f} ms (medians of the whole run)")
    for name, samples in times.items():
        if not samples:
            continue
        median = statistics.median(samples)
        verdict = ""
        if paired[name]:
            label = "best direct" if name.endswith("2 processes") else "baseline"
            ratio = statistics.median(paired[name])
            verdict = f"   paired vs {label} {ratio:5.2f}x: {'met' if ratio <= 1.2 else 'MISSED'}"
        runs = ", ".join(f"{s * 1e3:.0f}" for s in samples)
        print(
            f"  {name:<32} median {median * 1e3:7.0f} ms   vs baseline {median / base:5.2f}x"
            f"   vs best {median / best:5.2f}x{verdict}   runs [{runs}]"
        )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
