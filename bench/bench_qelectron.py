"""QElectron overhead and throughput, against a plain QNode measured in the same run.

Run by hand:  .venv/bin/python bench/bench_qelectron.py [--calls 300] [--futures 1000] [--repeats 3]

Per-call latency: the seeds' 2-wire IQPEmbedding circuit with shots=1024, plain QNode on
default.qubit vs the same QNode as a qelectron (lean Aer sampler, and the general
LocalSimulatorExecutor), calls interleaved.  Throughput: run_later on a 4-executor local cluster,
median of a few runs.
Targets: overhead <= 2 ms per call over the plain QNode; run_later >= 300 circuits/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402

from executors.local import AerSamplerExecutor, LocalSimulatorExecutor  # noqa: E402
from executors.qelectron import qelectron  # noqa: E402

X = np.array([0.6, -1.57])


def iqp(x):
    qml.IQPEmbedding(features=x, wires=[0, 1])
    qml.Hadamard(wires=1)
    return qml.probs(wires=range(2))


def qnode() -> qml.QNode:
    return qml.set_shots(qml.QNode(iqp, qml.device("default.qubit", wires=2)), 1024)


def latencies_ms(calls: dict[str, tuple], rounds: int) -> dict[str, float]:
    """Median latency of each call, the calls interleaved round by round so that they all see the
    same load (the machine is shared: timed one after the other, a load change between two series
    moved their ratio by 2x).  ``calls`` maps a name to ``(call, every)``: run in every n-th round."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for warm in range(max(rounds // 10, 5)):
        for call, every in calls.values():
            if warm % every == 0:
                call()
    for i in range(rounds):
        for name, (call, every) in calls.items():
            if i % every == 0:
                started = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


def throughput(circuit, futures: int) -> float:
    for future in [circuit.run_later(X) for _ in range(20)]:
        future.result()
    started = time.perf_counter()
    pending = [circuit.run_later(X) for _ in range(futures)]
    for future in pending:
        future.result()
    return futures / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--futures", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per cluster")
    args = parser.parse_args()

    plain = qnode()
    lean = qelectron(executors=[AerSamplerExecutor()])(qnode())
    local = qelectron(executors=[LocalSimulatorExecutor()])(qnode())
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ms = latencies_ms(
        {"plain": (lambda: plain(X), 1), "lean": (lambda: lean(X), 1), "local": (lambda: local(X), 5)}, args.calls
    )
    base, lean_ms, local_ms = ms["plain"], ms["lean"], ms["local"]
    print(f"per call (median, interleaved)   plain QNode {base:7.3f} ms")
    print(
        f"  qelectron, AerSamplerExecutor   {lean_ms:7.3f} ms   overhead {lean_ms - base:+7.3f} ms   ratio {lean_ms / base:5.2f}x"
    )
    print(
        f"  qelectron, LocalSimulatorExec.  {local_ms:7.3f} ms   overhead {local_ms - base:+7.3f} ms   ratio {local_ms / base:5.2f}x"
    )

    lean_cluster = qelectron(executors=[AerSamplerExecutor(name=f"aer{i}") for i in range(4)])(qnode())
    local_cluster = qelectron(executors=[LocalSimulatorExecutor() for _ in range(4)])(qnode())
    plain_rate = 1e3 / base
    lean_rates, local_rates = [], []
    for _ in range(args.repeats):  # alternated, for the same reason as the latencies
        lean_rates.append(throughput(lean_cluster, args.futures))
        local_rates.append(throughput(local_cluster, max(args.futures // 5, 50)))
    lean_rate, local_rate = statistics.median(lean_rates), statistics.median(local_rates)
    spread = f"(runs {', '.join(f'{r:.0f}' for r in lean_rates)})"
    print(f"run_later throughput (median of {args.repeats})  plain QNode (sequential) {plain_rate:7.1f} circuits/s")
    print(
        f"  4 x AerSamplerExecutor cluster               {lean_rate:7.1f} circuits/s   ratio {lean_rate / plain_rate:5.2f}x   {spread}"
    )
    print(
        f"  4 x LocalSimulatorExecutor cluster           {local_rate:7.1f} circuits/s   ratio {local_rate / plain_rate:5.2f}x"
    )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
