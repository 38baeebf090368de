"""PennyLaneDeviceExecutor: bit order, shots semantics, estimator, errors, specs."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import Statevector

from executors.base import ExecutionRequest, ExecutorSpec, InvalidRequest
from executors.pennylane import PennyLaneDeviceExecutor
from executors.registry import build_executor
from tests.executors.qe_helpers import assert_probs_close

THETA = Parameter("theta")


def scrambled() -> QuantumCircuit:
    """Three qubits measured into clbits out of order; one clbit left unmeasured."""
    circuit = QuantumCircuit(3, 4)
    circuit.ry(THETA, 0)
    circuit.rx(0.4, 1)
    circuit.cx(0, 2)
    circuit.measure(0, 3)
    circuit.measure(1, 0)
    circuit.measure(2, 1)
    return circuit


def exact_distribution(theta: float) -> dict[str, float]:
    body = scrambled().remove_final_measurements(inplace=False).assign_parameters([theta])
    probs = Statevector(body).probabilities_dict()  # keys q2 q1 q0
    out: dict[str, float] = {}
    for key, p in probs.items():
        q2, q1, q0 = key
        clbits = q0 + "0" + q2 + q1  # clbit3=q0, clbit2 unmeasured, clbit1=q2, clbit0=q1
        out[clbits] = out.get(clbits, 0.0) + p
    return out


def as_vector(distribution: dict[str, float], keys: list[str]) -> np.ndarray:
    return np.array([distribution.get(k, 0.0) for k in keys])


KEYS = [format(i, "04b") for i in range(16)]


async def test_counts_follow_qiskit_clbit_order():
    executor = PennyLaneDeviceExecutor("default.qubit")
    result = await executor.run(ExecutionRequest([scrambled()], shots=4000, parameter_values=[[1.1]]))
    counts = result.circuits[0].counts
    assert sum(counts.values()) == 4000
    estimate = as_vector({k: v / 4000 for k, v in counts.items()}, KEYS)
    assert_probs_close(estimate, as_vector(exact_distribution(1.1), KEYS), 4000)


@pytest.mark.parametrize(
    ("executor_shots", "request_shots", "expected"),
    [(0, 300, 300), (0, None, None), (500, 300, 500), (None, 300, None)],
)
async def test_shots_semantics(executor_shots, request_shots, expected):
    executor = PennyLaneDeviceExecutor("default.qubit", shots=executor_shots)
    result = await executor.run(ExecutionRequest([scrambled()], shots=request_shots, parameter_values=[[0.8]]))
    circuit = result.circuits[0]
    assert circuit.shots == expected
    if expected is None:
        assert circuit.counts is None
        np.testing.assert_allclose(
            as_vector(circuit.probabilities, KEYS), as_vector(exact_distribution(0.8), KEYS), atol=1e-12
        )
    else:
        assert sum(circuit.counts.values()) == expected


async def test_estimator_little_endian_labels():
    circuit = QuantumCircuit(2)
    circuit.x(1)
    circuit.ry(THETA, 0)
    executor = PennyLaneDeviceExecutor(shots=None)
    request = ExecutionRequest(
        [circuit], primitive="estimator", observables=[["ZI", "IZ", [("IX", 2.0)]]], parameter_values=[[0.5]]
    )
    result = (await executor.run(request)).circuits[0]
    np.testing.assert_allclose(result.evs, [-1.0, np.cos(0.5), 2 * np.sin(0.5)], atol=1e-12)
    assert result.stds == [0.0, 0.0, 0.0]


async def test_many_circuits_keep_their_indices_and_report_each():
    executor = PennyLaneDeviceExecutor("default.qubit", max_jobs=3)
    seen = []
    circuits = []
    for k in range(6):
        circuit = QuantumCircuit(1, 1)
        if k % 2:
            circuit.x(0)
        circuit.measure(0, 0)
        circuits.append(circuit)
    result = await executor.run(ExecutionRequest(circuits, shots=50, on_circuit=lambda r: seen.append(r.index)))
    assert [r.index for r in result.circuits] == list(range(6))
    assert [r.counts for r in result.circuits] == [{"0": 50}, {"1": 50}] * 3
    assert sorted(seen) == list(range(6))


async def test_mid_circuit_measurement_is_refused():
    circuit = QuantumCircuit(1, 2)
    circuit.measure(0, 0)
    circuit.h(0)
    circuit.measure(0, 1)
    with pytest.raises(InvalidRequest, match="only final measurements"):
        await PennyLaneDeviceExecutor().run(ExecutionRequest([circuit], shots=10))


def test_spec_and_bad_arguments():
    spec = ExecutorSpec(kind="pennylane", backend="default.qubit", shots=2048, options={"max_jobs": 4, "shots": 0})
    executor = build_executor(spec)
    assert isinstance(executor, PennyLaneDeviceExecutor)
    assert (executor.max_jobs, executor.shots) == (4, 0)
    assert executor.effective_shots(ExecutionRequest([scrambled()])) == 2048
    with pytest.raises(InvalidRequest, match="shots"):
        PennyLaneDeviceExecutor(shots=-1)
    with pytest.raises(InvalidRequest, match="max_jobs"):
        PennyLaneDeviceExecutor(max_jobs=0)
