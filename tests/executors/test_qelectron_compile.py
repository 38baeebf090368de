"""The qelectron's per-structure compilation and the Aer sampler's batching: a cached structure is
reused only when it is the same structure, and every result is still its own call's result."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pennylane as qml
import pennylane.numpy as pnp
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from executors.base import ExecutionRequest, InvalidRequest
from executors.local import AerSamplerExecutor
from executors.qelectron import qelectron
from executors.tapes import _UNCACHEABLE, _Compiled, _Inspected, _Sym, build_batch
from tests.executors.qe_helpers import assert_expval_close, assert_probs_close
from tests.stats import assert_counts_match, assert_same_distribution, exact_probabilities

SHOTS = 4096


def qnodes(func, wires, shots=SHOTS):
    device = qml.device("default.qubit", wires=wires)
    return qml.set_shots(qml.QNode(func, device), shots), qml.QNode(func, device)


def iqp(x, n_repeats=1):
    qml.IQPEmbedding(features=x, wires=[0, 1], n_repeats=n_repeats)
    qml.Hadamard(wires=1)
    return qml.probs(wires=range(2))


def _counts(probs) -> dict[str, int]:
    return {str(i): round(float(p) * SHOTS) for i, p in enumerate(probs)}


def entries(circuit) -> list:
    return list(circuit.compiler._entries.values())


@pytest.mark.parametrize("interface", ["numpy", "autograd"])
def test_compiled_calls_match_exact_and_the_plain_qnode(interface):
    sampled, exact = qnodes(iqp, 2)
    circuit = qelectron(sampled)
    rng = np.random.default_rng(7)
    for _ in range(6):
        values = rng.uniform(-np.pi, np.pi, 2)
        x = pnp.array(values, requires_grad=True) if interface == "autograd" else values
        result = circuit(x)
        plain = sampled(x)
        assert type(result) is type(plain) and result.shape == plain.shape
        assert_probs_close(result, exact(x), SHOTS)
        assert_same_distribution(_counts(result), SHOTS, _counts(plain), SHOTS)
    assert circuit.compiler.misses == 1 and circuit.compiler.hits == 5
    assert [type(e) for e in entries(circuit)] == [_Compiled]


def test_compiled_angles_equal_the_full_path():
    """The compiled function gives the angles PennyLane's own decomposition gives."""
    sampled, _ = qnodes(iqp, 2)
    circuit = qelectron(sampled)
    circuit.compiler((np.array([0.1, 0.2]),), {})
    for x in (np.array([0.6, -1.57]), np.array([2.5, 0.0]), np.array([-3.0, 1e-9])):
        fast = circuit.compiler((x,), {})
        full = build_batch(sampled, (x,), {})
        assert fast.circuits == full.circuits and fast.circuits[0] is full.circuits[0]
        np.testing.assert_allclose(fast.values, full.values, rtol=1e-12, atol=1e-15)
    assert circuit.compiler.hits == 3


def test_ops_that_depend_on_arguments_are_new_structures():
    def func(x, flip, wires):
        if flip:
            qml.PauliX(wires=wires[0])
        qml.RY(x, wires=wires[1])
        qml.CNOT(wires=wires)
        return qml.probs(wires=[0, 1])

    sampled, exact = qnodes(func, 2)
    circuit = qelectron(sampled)
    cases = [(0.3, False, [0, 1]), (0.3, True, [0, 1]), (1.2, False, [1, 0]), (0.3, True, [1, 0])]
    for _ in range(2):
        for x, flip, wires in cases:
            assert_probs_close(circuit(x, flip, wires), exact(x, flip, wires), SHOTS)
    assert len(entries(circuit)) == 4 and circuit.compiler.hits == 4


def test_hyperparameters_and_shots_are_part_of_the_structure():
    for shots in (200, 700):
        sampled, exact = qnodes(iqp, 2, shots=shots)
        circuit = qelectron(sampled)
        x = np.array([0.6, -1.57])
        for n_repeats in (1, 2, 1, 2):
            counts_total = round(float(np.sum(circuit(x, n_repeats))) * shots)
            assert counts_total == shots
            assert_probs_close(circuit(x, n_repeats), exact(x, n_repeats), shots)
        assert len(entries(circuit)) == 2
    # the two repeat counts give different distributions, so a stale circuit would be seen
    assert np.max(np.abs(exact(x, 1) - exact(x, 2))) > 0.1


def test_observable_values_are_part_of_the_structure():
    def func(x, c):
        qml.RX(x, wires=0)
        return qml.expval(c * qml.Z(0))

    sampled, exact = qnodes(func, 1)
    circuit = qelectron(sampled)
    for c in (1.0, -1.0, 0.5, 1.0, -1.0):
        assert_expval_close(circuit(0.4, c) / abs(c), exact(0.4, c) / abs(c), SHOTS)
    assert len(entries(circuit)) == 3


def test_value_dependent_decompositions_always_take_the_full_path():
    def func(bits, x):
        qml.BasisState(bits, wires=[0, 1])
        qml.RZ(x, wires=0)
        return qml.probs(wires=[0, 1])

    sampled, _ = qnodes(func, 2, shots=300)
    circuit = qelectron(sampled)
    for bits in ([1, 0], [0, 1], [1, 1], [0, 0], [1, 0]):
        probs = circuit(np.array(bits), 0.3)
        assert probs[2 * bits[0] + bits[1]] == 1.0
    assert entries(circuit) == [_UNCACHEABLE] and circuit.compiler.hits == 0


def test_placeholders_refuse_to_be_looked_at():
    a, b = _Sym("v[0]"), _Sym("v[1]")
    expression = 2 * (a - b) / 3 + np.float64(0.5) * -a
    assert eval(f"lambda v: {expression.code}")([1.0, 4.0]) == pytest.approx(2 * -3 / 3 - 0.5)  # noqa: S307
    for look in (lambda: a == 0, lambda: a < b, lambda: bool(a), lambda: float(a), lambda: np.cos(a)):
        with pytest.raises((_Inspected, TypeError)):
            look()


def test_concurrent_callers_with_different_structures_get_their_own_results():
    def func(x, wire):
        qml.RX(x, wires=wire)
        return qml.probs(wires=[0, 1])

    sampled, exact = qnodes(func, 2, shots=2000)
    circuit = qelectron(executors=[AerSamplerExecutor(name=f"aer{i}") for i in range(2)])(sampled)
    errors: list[BaseException] = []
    points = np.linspace(0.0, np.pi, 12)
    # The references first, in this thread: a plain PennyLane QNode is not safe to call from several
    # threads at once (it validates its output outside PennyLane's queue lock), and is not under test.
    expected = {(i, wire): exact(x, wire) for i, x in enumerate(points) for wire in (0, 1)}

    def caller(wire: int) -> None:
        try:
            futures = [(i, circuit.run_later(x, wire)) for i, x in enumerate(points)]
            for i, future in futures:
                assert_probs_close(future.result(timeout=60), expected[i, wire], 2000)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(wire,)) for wire in (0, 1, 0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]


def _rx_circuit(theta: Parameter) -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.rx(theta, 0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def test_one_aer_job_keeps_every_request_and_circuit_apart():
    theta, phi = Parameter("t"), Parameter("p")
    rx = _rx_circuit(theta)
    other = QuantumCircuit(1, 1)
    other.ry(phi, 0)
    other.measure(0, 0)
    fixed = QuantumCircuit(2, 2)
    fixed.x(1)
    fixed.measure([0, 1], [0, 1])
    requests = [
        ExecutionRequest(circuits=[rx, fixed, rx], parameter_values=[[np.pi], [], [0.0]], shots=500),
        ExecutionRequest(circuits=[fixed], shots=500),
        ExecutionRequest(circuits=[other, rx], parameter_values=[[np.pi / 2], [1.1]], shots=500),
    ]
    executor = AerSamplerExecutor()
    results = executor._simulate(requests, [0.0] * len(requests))
    for request, result in zip(requests, results, strict=True):
        assert [r.index for r in result.circuits] == list(range(len(request.circuits)))
        for index, (circuit, r) in enumerate(zip(request.circuits, result.circuits, strict=True)):
            values = request.parameter_values[index] if request.parameter_values else []
            assert_counts_match(r.counts, exact_probabilities(circuit.assign_parameters(values)), 500)
        assert result.metadata["batch"] == 3


def test_concurrent_runs_batch_and_each_gets_its_own_result():
    theta = Parameter("t")
    rx = _rx_circuit(theta)
    executor = AerSamplerExecutor()
    angles = [0.0, np.pi, np.pi / 2, 2.0] * 10
    shots = [300, 300, 700, 300] * 10

    async def main():
        requests = [
            ExecutionRequest(circuits=[rx], parameter_values=[[a]], shots=s) for a, s in zip(angles, shots, strict=True)
        ]
        return requests, await asyncio.gather(*(executor.run(r) for r in requests))

    requests, results = asyncio.run(main())
    for request, result in zip(requests, results, strict=True):
        (r,) = result.circuits
        assert r.shots == request.shots
        bound = rx.assign_parameters(request.parameter_values[0])
        assert_counts_match(r.counts, exact_probabilities(bound), request.shots)


def test_wrong_number_of_values_is_refused_before_batching():
    rx = _rx_circuit(Parameter("t"))
    executor = AerSamplerExecutor()
    with pytest.raises(InvalidRequest, match="1 parameters; got 2 values"):
        asyncio.run(executor.run(ExecutionRequest(circuits=[rx], parameter_values=[[0.1, 0.2]])))


def test_post_processing_does_not_disturb_a_tape_recorded_meanwhile():
    """PennyLane's counts post-processing swaps the global recording contexts; recording in another
    thread at the same time must neither fail nor lose operators (a lost one is a new structure)."""

    def func(x):
        for _ in range(30):
            qml.RX(x, wires=0)
            qml.RY(x, wires=1)
        return qml.probs(wires=[0, 1])

    sampled, _ = qnodes(func, 2)
    circuit = qelectron(sampled)
    batch = circuit.compiler((0.1,), {})
    counts = [{"00": 10, "01": 5, "11": 1}]
    stop = threading.Event()
    errors: list[BaseException] = []

    def post_loop() -> None:
        try:
            while not stop.is_set():
                batch.postprocess(counts)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=post_loop)
    thread.start()
    try:
        for _ in range(300):
            circuit.compiler((0.2,), {})
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[0]
    assert len(entries(circuit)) == 1 and circuit.compiler.hits == 300


def _scrambled() -> QuantumCircuit:
    """Qubit 2 -> clbit 0, qubit 0 -> clbit 2, clbit 1 never written, an idle qubit 3."""
    circuit = QuantumCircuit(4, 3)
    circuit.ry(0.7, 0)
    circuit.rx(2.2, 2)
    circuit.cx(0, 1)
    circuit.barrier()
    circuit.measure(2, 0)
    circuit.measure(0, 2)
    return circuit


def _mid_circuit() -> QuantumCircuit:
    """A measurement that later gates depend on: only a shot-by-shot simulation gets it right."""
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.measure(0, 0)
    circuit.cx(0, 1)
    circuit.h(0)
    circuit.measure(1, 1)
    return circuit


def test_exact_plans_only_for_final_measurements():
    from executors.local import _ExactPlan

    assert _ExactPlan.of(_scrambled()).clbits == (0, 2)
    assert _ExactPlan.of(_mid_circuit()) is None
    reset = QuantumCircuit(1, 1)
    reset.h(0)
    reset.reset(0)
    reset.measure(0, 0)
    assert _ExactPlan.of(reset) is None
    twice = QuantumCircuit(1, 2)
    twice.measure(0, 0)
    twice.measure(0, 1)
    assert _ExactPlan.of(twice) is None


def test_sampled_and_shot_simulated_circuits_in_one_batch():
    scrambled, mid = _scrambled(), _mid_circuit()
    requests = [ExecutionRequest(circuits=[scrambled, mid], shots=3000), ExecutionRequest(circuits=[mid], shots=3000)]
    results = AerSamplerExecutor()._simulate(requests, [0.0, 0.0])
    counts = results[0].circuits[0].counts
    assert sum(counts.values()) == 3000 and all(len(key) == 3 and key[1] == "0" for key in counts)
    assert_counts_match(counts, exact_probabilities(scrambled), 3000)
    for mid_counts in (results[0].circuits[1].counts, results[1].circuits[0].counts):
        # clbit 0 is qubit 0 before the CX and H, clbit 1 copies it: 00 and 11 only, half each
        assert set(mid_counts) <= {"00", "11"}
        assert_counts_match(mid_counts, {"00": 0.5, "11": 0.5}, 3000)


def test_seeded_executors_repeat_their_samples():
    rx = _rx_circuit(Parameter("t"))
    request = ExecutionRequest(circuits=[rx, _mid_circuit()], parameter_values=[[1.3], []], shots=1000)

    def counts(seed):
        executor = AerSamplerExecutor(seed=seed)
        return [[r.counts for r in executor.run_sync(request).circuits] for _ in range(3)]

    first = counts(11)
    assert counts(11) == first
    assert counts(12) != first
    assert first[0] != first[1]  # each run of a sequence draws anew


def test_a_request_aer_cannot_take_fails_alone_in_its_batch():
    from qiskit.circuit import Gate

    from executors.local import _Pending

    bad = QuantumCircuit(1, 1)
    bad.append(Gate("mystery", 1, []), [0])
    bad.measure(0, 0)
    good = _rx_circuit(Parameter("t"))
    executor = AerSamplerExecutor()

    async def main():
        loop = asyncio.get_running_loop()
        items = [
            _Pending(
                ExecutionRequest(circuits=[good], parameter_values=[[np.pi]], shots=200),
                loop,
                loop.create_future(),
                0.0,
            ),
            _Pending(ExecutionRequest(circuits=[bad], shots=200), loop, loop.create_future(), 0.0),
            _Pending(
                ExecutionRequest(circuits=[good], parameter_values=[[0.0]], shots=200), loop, loop.create_future(), 0.0
            ),
        ]
        await asyncio.to_thread(executor._run_batch, items)
        return await asyncio.gather(*(item.future for item in items), return_exceptions=True)

    first, failed, last = asyncio.run(main())
    assert isinstance(failed, Exception) and "mystery" in str(failed)
    assert first.circuits[0].counts == {"11": 200} and last.circuits[0].counts == {"00": 200}
    assert first.metadata["batch"] == 2
