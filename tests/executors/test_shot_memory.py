"""Executors keep every shot's outcome when a request asks for ``memory``, consistent with the counts."""

import asyncio
import pickle
from collections import Counter

import pytest
from qiskit import QuantumCircuit
from qiskit.primitives import BitArray

from executors.base import CircuitResult, ExecutionRequest, ExecutorSpec, InvalidRequest
from executors.circuits import validate_request
from executors.fake_backend import FakeBackendExecutor
from executors.local import AerSamplerExecutor, LocalSimulatorExecutor
from executors.portal_client import PortalExecutor, _circuit_result
from tests.circuits import bell
from tests.executors.test_portal_client import KEY, portal  # noqa: F401, F811 - the fake portal fixture


def tally(result: CircuitResult) -> dict[str, int]:
    return dict(Counter(result.memory_bitstrings()))


def check(result: CircuitResult, shots: int) -> list[str]:
    memory = result.memory_bitstrings()
    assert len(memory) == shots and tally(result) == result.counts
    assert result.bit_array().get_counts() == result.counts
    return memory


def test_a_tiny_job_sampled_from_exact_probabilities_keeps_its_shots():
    executor = LocalSimulatorExecutor()
    request = ExecutionRequest(circuits=[bell()], shots=1000, memory=True)
    assert executor.runs_inline(request, 1000)
    (result,) = executor.run_inline(request).circuits
    assert result.metadata["sampled_from"] == "exact probabilities"
    memory = check(result, 1000)
    assert set(memory) == {"00", "11"} and memory != sorted(memory)
    (plain,) = executor.run_inline(ExecutionRequest(circuits=[bell()], shots=1000)).circuits
    assert plain.memory is None and plain.memory_bits is None


def test_exact_sampling_puts_each_measured_bit_on_its_clbit():
    circuit = QuantumCircuit(3, 3)
    circuit.x(0)
    circuit.h(2)
    circuit.measure(0, 2)  # q0 (always 1) -> c2; q2 (random) -> c0; c1 never written
    circuit.measure(2, 0)
    executor = LocalSimulatorExecutor(ExecutorSpec(kind="local", options={"seed": 5}))
    (result,) = executor.run_inline(ExecutionRequest(circuits=[circuit], shots=500, memory=True)).circuits
    assert result.metadata["sampled_from"] == "exact probabilities"
    assert set(check(result, 500)) == {"100", "101"}


def test_the_sampler_path_keeps_its_shots_and_they_survive_pickling():
    # Not a statevector: SamplerV2 samples the shots (a statevector job is drawn exactly).
    executor = LocalSimulatorExecutor(ExecutorSpec(kind="local", options={"seed": 3, "method": "matrix_product_state"}))
    (result,) = asyncio.run(executor.run(ExecutionRequest(circuits=[bell()], shots=6000, memory=True))).circuits
    assert "sampled_from" not in result.metadata
    check(result, 6000)
    again = pickle.loads(pickle.dumps(result))  # how a simulator child hands it back
    assert again.memory_bitstrings() == result.memory_bitstrings()
    assert result.to_dict()["memory"] == result.memory_bitstrings()


def test_several_registers_join_first_register_rightmost():
    circuit = QuantumCircuit(3)
    from qiskit.circuit import ClassicalRegister

    a, b = ClassicalRegister(1, "a"), ClassicalRegister(2, "b")
    circuit.add_register(a)
    circuit.add_register(b)
    circuit.x(0)
    circuit.h(1)
    circuit.measure(0, a[0])
    circuit.measure(1, b[0])
    circuit.measure(2, b[1])
    executor = LocalSimulatorExecutor()
    (result,) = asyncio.run(executor.run(ExecutionRequest(circuits=[circuit], shots=300, memory=True))).circuits
    assert set(check(result, 300)) == {"001", "011"} and result.memory_bits == 3


def test_the_fake_backend_keeps_its_shots():
    executor = FakeBackendExecutor(ExecutorSpec(kind="fake", backend="fake_manila", options={"seed": 11}))
    (result,) = asyncio.run(executor.run(ExecutionRequest(circuits=[bell()], shots=400, memory=True))).circuits
    check(result, 400)


@pytest.mark.parametrize("resets", [False, True], ids=["exact", "shot-simulated"])
def test_the_lean_aer_sampler_keeps_its_shots(resets):
    circuit = bell()
    if resets:  # a reset needs shot-by-shot simulation: Aer's own per-shot memory
        circuit = QuantumCircuit(2, 2)
        circuit.reset(0)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.measure([0, 1], [0, 1])
    executor = AerSamplerExecutor(shots=700)
    result = executor.run_sync(ExecutionRequest(circuits=[circuit], memory=True))
    assert set(check(result.circuits[0], 700)) == {"00", "11"}
    assert executor.run_sync(ExecutionRequest(circuits=[circuit])).circuits[0].memory is None


def test_memory_is_for_the_sampler_only():
    request = ExecutionRequest(circuits=[bell()], primitive="estimator", observables=[["ZZ"]], memory=True)
    with pytest.raises(InvalidRequest, match="only a sampler job"):
        validate_request(request, None)


def test_pennylane_refuses_memory_with_a_clear_error():
    from executors.pennylane import PennyLaneDeviceExecutor

    with pytest.raises(InvalidRequest, match="counts only, not each shot"):
        PennyLaneDeviceExecutor("default.qubit").validate(ExecutionRequest(circuits=[bell()], memory=True))


def test_the_portal_clients_results_rebuild_the_shots():
    result = _circuit_result({"index": 0, "counts": {"00": 1, "11": 2}, "memory": ["11", "00", "11"]})
    assert result.memory_bits == 2 and result.memory_bitstrings() == ["11", "00", "11"]
    assert result.bit_array() == BitArray.from_samples(["11", "00", "11"], 2)
    assert _circuit_result({"index": 0, "counts": {"0": 1}, "memory": None}).memory is None


def test_the_portal_executor_asks_for_the_shots_only_when_its_request_does(portal):  # noqa: F811
    executor = PortalExecutor(portal.url, KEY, "aer")
    (result,) = asyncio.run(executor.run(ExecutionRequest([bell()], shots=10, memory=True))).circuits
    assert portal.requests[0][2]["memory"] is True
    assert tally(result) == result.counts == {"00": 6, "11": 4}
    (plain,) = asyncio.run(executor.run(ExecutionRequest([bell()], shots=10))).circuits
    posts = [body for method, _, body, _ in portal.requests if method == "POST"]
    assert plain.memory is None and "memory" not in posts[-1] and "memory" not in portal.requests[-1][1]
