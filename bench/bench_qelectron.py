"""QElectron overhead and throughput, against a plain QNode measured in the same run.

Run by hand:  .venv/bin/python bench/bench_qelectron.py [--calls 300] [--futures 1000]

Per-call latency: the seeds' 2-wire IQPEmbedding circuit with shots=1024, plain QNode on
default.qubit vs the same QNode as a qelectron (lean Aer sampler, and the general
LocalSimulatorExecutor).  Throughput: run_later on a 4-executor local cluster.
Targets: overhead <= 2 ms per call over the plain QNode; run_later >= 300 circuits/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402

from executors.local import LocalSimulatorExecutor  # noqa: E402
from executors.qelectron import AerSamplerExecutor, qelectron  # noqa: E402

X = np.array([0.6, -1.57])


def iqp(x):
    qml.IQPEmbedding(features=x, wires=[0, 1])
    qml.Hadamard(wires=1)
    return qml.probs(wires=range(2))


def qnode() -> qml.QNode:
    return qml.set_shots(qml.QNode(iqp, qml.device("default.qubit", wires=2)), 1024)


def latency_ms(call, calls: int) -> float:
    for _ in range(max(calls // 10, 5)):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


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
    args = parser.parse_args()

    plain = qnode()
    lean = qelectron(executors=[AerSamplerExecutor()])(qnode())
    local = qelectron(executors=[LocalSimulatorExecutor()])(qnode())
    base = latency_ms(lambda: plain(X), args.calls)
    lean_ms = latency_ms(lambda: lean(X), args.calls)
    local_ms = latency_ms(lambda: local(X), max(args.calls // 5, 20))
    print(f"per call (median)     plain QNode {base:7.3f} ms")
    print(
        f"  qelectron, AerSamplerExecutor   {lean_ms:7.3f} ms   overhead {lean_ms - base:+7.3f} ms   ratio {lean_ms / base:5.2f}x"
    )
    print(
        f"  qelectron, LocalSimulatorExec.  {local_ms:7.3f} ms   overhead {local_ms - base:+7.3f} ms   ratio {local_ms / base:5.2f}x"
    )

    lean_cluster = qelectron(executors=[AerSamplerExecutor(name=f"aer{i}") for i in range(4)])(qnode())
    local_cluster = qelectron(executors=[LocalSimulatorExecutor() for _ in range(4)])(qnode())
    plain_rate = 1e3 / base
    lean_rate = throughput(lean_cluster, args.futures)
    local_rate = throughput(local_cluster, max(args.futures // 5, 50))
    print(f"run_later throughput  plain QNode (sequential) {plain_rate:7.1f} circuits/s")
    print(
        f"  4 x AerSamplerExecutor cluster               {lean_rate:7.1f} circuits/s   ratio {lean_rate / plain_rate:5.2f}x"
    )
    print(
        f"  4 x LocalSimulatorExecutor cluster           {local_rate:7.1f} circuits/s   ratio {local_rate / plain_rate:5.2f}x"
    )


if __name__ == "__main__":
    main()
