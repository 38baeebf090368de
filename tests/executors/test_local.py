"""LocalSimulatorExecutor: ideal Aer results against exact statevector probabilities."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ClassicalRegister, Parameter, QuantumRegister
from qiskit.quantum_info import SparsePauliOp, Statevector

from executors import ExecutionRequest, ExecutorSpec, JobCancelled, RemoteState, build_executor
from executors.local import LocalSimulatorExecutor
from tests.circuits import bell, ghz
from tests.stats import assert_counts_match, exact_probabilities

SHOTS = 4000


def skewed() -> QuantumCircuit:
    """Unequal, asymmetric probabilities so a reversed bit order or a lost rotation is caught."""
    circuit = QuantumCircuit(3, 3)
    circuit.ry(0.7, 0)
    circuit.ry(2.1, 1)
    circuit.cx(1, 2)
    circuit.rx(0.4, 2)
    circuit.measure([0, 1, 2], [0, 1, 2])
    return circuit


def executor(**options) -> LocalSimulatorExecutor:
    single_job = options.pop("single_job", True)
    return build_executor(ExecutorSpec(kind="local", options={"seed": 1234, **options}, single_job=single_job))


@pytest.mark.parametrize("single_job", [True, False])
async def test_sampler_matches_exact_probabilities(single_job):
    circuits = [bell(), ghz(3), ghz(5), skewed()]
    seen = []
    result = await executor(single_job=single_job).run(
        ExecutionRequest(circuits=circuits, shots=SHOTS, on_circuit=lambda r: seen.append(r.index))
    )
    assert seen == [0, 1, 2, 3]
    for circuit, circuit_result in zip(circuits, result.circuits, strict=True):
        assert circuit_result.shots == SHOTS
        assert_counts_match(circuit_result.counts, exact_probabilities(circuit), SHOTS)
        assert math.isclose(sum(circuit_result.probabilities.values()), 1.0)
    assert result.execution_time > 0
    assert result.metadata["single_job"] is single_job


async def test_registers_are_joined_first_register_rightmost():
    q = QuantumRegister(3, "q")
    low, high = ClassicalRegister(1, "low"), ClassicalRegister(2, "high")
    circuit = QuantumCircuit(q, low, high)
    circuit.x(0)
    circuit.h(2)
    circuit.measure(0, low[0])
    circuit.measure([1, 2], [high[0], high[1]])
    result = (await executor().run(ExecutionRequest(circuits=[circuit], shots=SHOTS))).circuits[0]
    assert set(result.register_counts) == {"low", "high"}
    assert result.register_counts["low"] == {"1": SHOTS}
    assert set(result.register_counts["high"]) == {"00", "10"}
    assert_counts_match(result.counts, {"001": 0.5, "101": 0.5}, SHOTS)
    assert_counts_match(result.counts, exact_probabilities(circuit), SHOTS)


async def test_parametrised_sampler():
    theta = Parameter("theta")
    circuit = QuantumCircuit(2, 2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    # Aer 0.17's own parameter binding gets this one wrong (the rx(b) is lost); the executor binds.
    a, b = Parameter("a"), Parameter("b")
    expression = QuantumCircuit(3)
    expression.ry(a, 0)
    expression.rx(b, 1)
    expression.crz(a + b, 1, 2)
    expression.h(1)
    expression.measure_all()
    values = [[1.1], [0.9, -2.3]]
    result = await executor().run(
        ExecutionRequest(circuits=[circuit, expression], shots=SHOTS, parameter_values=values)
    )
    for original, bound_values, circuit_result in zip([circuit, expression], values, result.circuits, strict=True):
        exact = exact_probabilities(original.assign_parameters(bound_values))
        assert_counts_match(circuit_result.counts, exact, SHOTS)


async def test_gates_aer_lacks_are_transpiled_only_when_needed():
    opaque = QuantumCircuit(2, name="mygate")
    opaque.h(0)
    opaque.cx(0, 1)
    wrapped = QuantumCircuit(2, 2)
    wrapped.append(opaque.to_gate(), [0, 1])
    wrapped.measure([0, 1], [0, 1])
    run = await executor().run(ExecutionRequest(circuits=[bell(), wrapped], shots=SHOTS))
    assert run.metadata["transpiled"] == [1]
    assert_counts_match(run.circuits[1].counts, exact_probabilities(wrapped.decompose()), SHOTS)


async def test_estimator_matches_exact_expectation_values():
    bare_bell = bell().remove_final_measurements(inplace=False)
    a, b = Parameter("a"), Parameter("b")
    ansatz = QuantumCircuit(3)
    ansatz.ry(a, 0)
    ansatz.rx(b, 1)
    ansatz.cx(0, 2)
    ansatz.crz(a + b, 1, 2)
    ansatz.h(1)
    values = [0.9, -2.3]
    observables = [["ZZ", "XX", "YY", "ZI"], ["ZIZ", ["XYI", 0.5], [["ZZZ", 1.0], ["IXI", -2.0]]]]
    shots = 10_000
    result = await executor().run(
        ExecutionRequest(
            circuits=[bell(), ansatz],  # the Bell circuit keeps its measurements: they are removed
            primitive="estimator",
            shots=shots,
            observables=observables,
            parameter_values=[None, values],
        )
    )
    exact = [
        [Statevector(bare_bell).expectation_value(SparsePauliOp(p)).real for p in ("ZZ", "XX", "YY", "ZI")],
        [
            Statevector(ansatz.assign_parameters(values)).expectation_value(op).real
            for op in (
                SparsePauliOp("ZIZ"),
                SparsePauliOp("XYI", 0.5),
                SparsePauliOp(["ZZZ", "IXI"], [1.0, -2.0]),
            )
        ],
    ]
    assert exact[0] == pytest.approx([1, 1, -1, 0])
    for circuit_result, expected in zip(result.circuits, exact, strict=True):
        assert len(circuit_result.evs) == len(expected)
        for ev, std, exact_value in zip(circuit_result.evs, circuit_result.stds, expected, strict=True):
            assert std == pytest.approx(1 / math.sqrt(shots))
            assert abs(ev - exact_value) <= 4 * std


async def test_cancel_between_circuits():
    circuits = [QuantumCircuit(16, 16) for _ in range(30)]
    for circuit in circuits:
        circuit.h(range(16))
        for _ in range(12):
            for q in range(15):
                circuit.cx(q, q + 1)
            circuit.rz(0.1, range(16))
        circuit.measure(range(16), range(16))
    local = executor(single_job=False)
    finished = []
    handle = await local.submit(
        ExecutionRequest(circuits=circuits, shots=10, on_circuit=lambda r: finished.append(r.index))
    )
    while not finished:
        await asyncio.sleep(0.01)
    assert await local.status(handle) == RemoteState.RUNNING
    await local.cancel(handle)
    with pytest.raises(JobCancelled):
        await local.result(handle)
    assert await local.status(handle) == RemoteState.CANCELLED
    await asyncio.sleep(0.3)
    assert len(finished) < len(circuits)
    await local.cancel(handle)  # idempotent


async def test_cancel_single_job_before_it_ends():
    local = executor()
    handle = await local.submit(ExecutionRequest(circuits=[ghz(3)] * 5, shots=100))
    await local.cancel(handle)
    with pytest.raises(JobCancelled):
        await local.result(handle)
    assert await local.status(handle) == RemoteState.CANCELLED


@pytest.mark.parametrize("single_job", [True, False])
async def test_progress_steps_and_circuit_callbacks_in_order(single_job):
    """Without process isolation: "transpiling", then "executing", then one callback per circuit in
    order (one batch is prepared and executed in one thread hop; per-circuit jobs take a hop each)."""
    progress, seen = [], []
    request = ExecutionRequest(
        circuits=[bell(), ghz(3)], shots=500, on_progress=progress.append, on_circuit=lambda r: seen.append(r.index)
    )
    result = await executor(single_job=single_job).run(request)
    assert progress == ["transpiling", "executing"]
    assert seen == [0, 1] and [r.index for r in result.circuits] == [0, 1]
    assert result.metadata["single_job"] is single_job and result.metadata["transpiled"] == []
    assert set(result.circuits[1].counts) <= {"000", "111"} and sum(result.circuits[1].counts.values()) == 500


async def test_seed_makes_runs_reproducible_and_default_shots_apply():
    first = await executor(default_shots=321).run(ExecutionRequest(circuits=[skewed()]))
    second = await executor(default_shots=321).run(ExecutionRequest(circuits=[skewed()]))
    assert first.circuits[0].counts == second.circuits[0].counts
    assert first.circuits[0].shots == 321


async def test_results_are_plain_json():
    import json

    result = await executor().run(ExecutionRequest(circuits=[bell()], shots=10))
    json.dumps([c.to_dict() for c in result.circuits])
    json.dumps(result.metadata)
    assert np.isclose(sum(result.circuits[0].counts.values()), 10)


@pytest.mark.parametrize("width", [1, 3, 8, 9, 20, 64, 70])
def test_vectorised_counts_equal_qiskits(width):
    import numpy as np
    from qiskit.primitives import BitArray

    from executors.results import count_bits

    rng = np.random.default_rng(width)
    bits = BitArray.from_bool_array(rng.random((3000, width)) < 0.3)
    assert count_bits(bits) == bits.get_counts()


def test_run_inline_runs_only_tiny_one_batch_jobs():
    from tests.circuits import BELL
    from tests.stats import exact_probabilities

    local = executor()
    result = local.run_inline(ExecutionRequest(circuits=[bell()], shots=3000))
    assert_counts_match(result.circuits[0].counts, exact_probabilities(BELL), 3000)
    assert result.metadata["executor"] == "aer_simulator" and result.execution_time > 0
    assert local.run_inline(ExecutionRequest(circuits=[bell()], shots=5000)) is None  # past the inline bound
    estimator = ExecutionRequest(circuits=[ghz(2)], primitive="estimator", observables=["ZZ"])
    assert local.run_inline(estimator) is None
    per_circuit = executor(single_job=False)
    assert per_circuit.run_inline(ExecutionRequest(circuits=[bell(), bell()], shots=100)) is None
    assert per_circuit.run_inline(ExecutionRequest(circuits=[bell()], shots=100)) is not None


def test_tiny_sampler_jobs_draw_from_the_exact_distribution():
    """A tiny job's shots are one multinomial draw from Aer's exact probabilities (no SamplerV2 job
    thread); clbits measured out of order, unmeasured clbits and a second job keep their own keys."""
    crossed = QuantumCircuit(3, 4)
    crossed.ry(0.7, 0)
    crossed.ry(2.1, 1)
    crossed.cx(1, 2)
    crossed.measure([0, 1, 2], [3, 0, 2])  # clbit 1 is never written
    circuits = [skewed(), crossed]
    result = executor().run_inline(ExecutionRequest(circuits=circuits, shots=2000))
    for circuit, circuit_result in zip(circuits, result.circuits, strict=True):
        assert circuit_result.metadata["sampled_from"] == "exact probabilities"
        assert_counts_match(circuit_result.counts, exact_probabilities(circuit), 2000)
        assert circuit_result.register_counts == {"c": circuit_result.counts}
    assert all(bits[2] == "0" for bits in result.circuits[1].counts)  # clbit 1, third from the right
    again = executor().run_inline(ExecutionRequest(circuits=circuits, shots=2000))
    assert [r.counts for r in again.circuits] == [r.counts for r in result.circuits]  # the seed holds


def test_tiny_jobs_with_several_registers_go_through_samplerv2():
    q = QuantumRegister(2, "q")
    low, high = ClassicalRegister(1, "low"), ClassicalRegister(1, "high")
    circuit = QuantumCircuit(q, low, high)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure(0, low[0])
    circuit.measure(1, high[0])
    result = executor().run_inline(ExecutionRequest(circuits=[circuit], shots=2000))
    assert "sampled_from" not in result.circuits[0].metadata  # Aer's keys would need the registers split
    assert_counts_match(result.circuits[0].counts, {"00": 0.5, "11": 0.5}, 2000)  # joined, first register rightmost
    assert set(result.circuits[0].register_counts) == {"low", "high"}


def test_only_the_in_process_simulators_are_inline_executors():
    from executors import InlineExecutor
    from executors.fake_backend import FakeBackendExecutor
    from executors.local import AerSamplerExecutor

    fake = FakeBackendExecutor(ExecutorSpec(kind="fake", backend="fake_manila"))
    assert isinstance(executor(), InlineExecutor) and isinstance(fake, InlineExecutor)
    assert not isinstance(AerSamplerExecutor(), InlineExecutor)
    tiny = ExecutionRequest(circuits=[bell()], shots=100)
    assert executor().runs_inline(tiny, 100)
    assert not fake.runs_inline(tiny, 100) and fake.run_inline(tiny) is None  # it declares no job tiny


def test_sources_need_one_entry_per_circuit():
    from executors import InvalidRequest

    with pytest.raises(InvalidRequest, match="sources has 1 entries for 2 circuits"):
        executor().validate(ExecutionRequest(circuits=[bell(), bell()], sources=[None]))


def wide_skewed(width: int) -> QuantumCircuit:
    """``skewed`` on the first three qubits, the rest flipped: a distribution an exact draw must get right."""
    circuit = QuantumCircuit(width, width)
    circuit.ry(0.7, 0)
    circuit.ry(2.1, 1)
    circuit.cx(1, 2)
    circuit.rx(0.4, 2)
    circuit.x(range(3, width))
    circuit.measure(range(width), range(width))
    return circuit


@pytest.mark.parametrize("single_job", [True, False])
async def test_big_sampler_batches_are_drawn_from_the_exact_distribution_too(single_job):
    """Past the inline bounds (16 qubits, 20,000 shots x 3 circuits), still one exact draw per circuit."""
    circuits = [wide_skewed(16), wide_skewed(16), ghz(14)]
    result = await executor(single_job=single_job).run(ExecutionRequest(circuits=circuits, shots=20_000))
    for circuit, circuit_result in zip(circuits, result.circuits, strict=True):
        assert circuit_result.metadata["sampled_from"] == "exact probabilities"
        assert_counts_match(circuit_result.counts, exact_probabilities(circuit), 20_000)


async def test_big_batches_that_measure_mid_circuit_or_on_other_methods_are_shot_simulated():
    mid = wide_skewed(10)
    mid.h(0)
    mid.measure(0, 0)  # measured again after a gate: not one final state
    result = await executor().run(ExecutionRequest(circuits=[mid], shots=5000))
    assert "sampled_from" not in result.circuits[0].metadata
    mps = await executor(method="matrix_product_state").run(ExecutionRequest(circuits=[wide_skewed(16)], shots=9000))
    assert "sampled_from" not in mps.circuits[0].metadata
    assert_counts_match(mps.circuits[0].counts, exact_probabilities(wide_skewed(16)), 9000)
