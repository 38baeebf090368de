"""What a run used (``ExecutionResult.usage``) and the QPU-seconds estimate, on the executor core alone."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Delay

from executors import isolation
from executors.base import ExecutionRequest, ExecutorSpec
from executors.circuits import parse_circuit
from executors.local import LocalSimulatorExecutor
from executors.pennylane import PennyLaneDeviceExecutor
from executors.usage_estimate import DEFAULT_DURATIONS, Durations, backend_target, circuit_seconds, estimate
from tests.circuits import BELL
from tests.executors.test_isolation import BUSY

DURATIONS = Durations({"sx": 10e-9, "x": 10e-9, "cx": 100e-9, "measure": 1000e-9, "rz": 0.0}, dt=1e-9)


@pytest.fixture
def pool():
    isolation.enable(1, warm=(LocalSimulatorExecutor,))
    isolation.warm_up()
    yield
    isolation.disable()


async def test_a_simulation_in_a_child_reports_the_childs_cpu_seconds(pool):
    request = ExecutionRequest(circuits=[parse_circuit({"qasm": BUSY})], shots=300)
    result = await LocalSimulatorExecutor(ExecutorSpec(kind="local")).run(request)
    assert result.metadata["isolated"] is True
    used = result.usage
    assert set(used) == {"wall_seconds", "cpu_seconds"}
    # The child's CPU went into it: more than nothing, never more than one CPU for the whole wall time.
    assert 0 < used["cpu_seconds"] <= used["wall_seconds"] * 1.05 + 0.01


async def test_a_simulation_in_a_thread_and_inline_report_cpu_seconds():
    executor = LocalSimulatorExecutor(ExecutorSpec(kind="local"))
    threaded = await executor.run(ExecutionRequest(circuits=[parse_circuit({"qasm": BUSY})], shots=300))
    assert threaded.usage["cpu_seconds"] > 0 and threaded.usage["wall_seconds"] > 0
    inline = executor.run_inline(ExecutionRequest(circuits=[parse_circuit({"qasm": BELL})], shots=100))
    assert inline is not None and set(inline.usage) == {"wall_seconds", "cpu_seconds"}
    assert inline.usage["wall_seconds"] == round(inline.execution_time, 6)


async def test_a_pennylane_run_reports_its_device_threads_cpu():
    result = await PennyLaneDeviceExecutor("default.qubit", shots=200).run(
        ExecutionRequest(circuits=[parse_circuit({"qasm": BELL})])
    )
    assert result.usage["cpu_seconds"] > 0 and result.usage["wall_seconds"] >= 0


def test_parallel_gates_share_time_and_virtual_gates_take_none():
    circuit = QuantumCircuit(2, 2)
    circuit.x(0)
    circuit.x(1)  # beside the first x: no time of its own
    circuit.rz(0.3, 0)  # virtual
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    assert circuit_seconds(circuit, DURATIONS) == pytest.approx(10e-9 + 100e-9 + 1000e-9)


def test_gates_outside_the_target_are_priced_as_the_device_runs_them():
    circuit = QuantumCircuit(3)
    circuit.h(0)  # not in the target: two sx pulses
    circuit.s(1)  # diagonal: virtual
    circuit.cz(1, 2)  # a two-qubit gate not in the target: the target's two-qubit gate
    assert circuit_seconds(circuit, DURATIONS) == pytest.approx(100e-9)
    circuit.append(Delay(500, unit="dt"), [2])
    circuit.append(Delay(2, unit="us"), [0])
    assert circuit_seconds(circuit, DURATIONS) == pytest.approx(max(20e-9 + 2e-6, 100e-9 + 500e-9))
    toffoli = QuantumCircuit(3)
    toffoli.ccx(0, 1, 2)  # decomposed: its six cx share qubits pairwise in turn, so they run one after another
    assert circuit_seconds(toffoli, DURATIONS) > 6 * 100e-9


def test_the_job_estimate_sums_shots_runs_and_rep_delay():
    bell = parse_circuit({"qasm": BELL})
    guess = estimate([bell, bell], 1000, backend="x", target=None, rep_delay=None)
    defaults = 2 * DEFAULT_DURATIONS["sx"] + DEFAULT_DURATIONS["ecr"] + DEFAULT_DURATIONS["measure"]
    assert guess.durations_from == "defaults" and guess.rep_delay == 250e-6
    assert guess.seconds == pytest.approx(2.0 + 2 * 1000 * (defaults + 250e-6), abs=1e-3)
    target, rep_delay = backend_target("fake_manila")
    assert (
        rep_delay == 250e-6 and backend_target("ibm_manila")[0] is target and backend_target("nowhere") == (None, None)
    )
    observed = estimate([bell], 100, backend="fake_manila", target=target, observables=[["ZZ", "XX", "YY"]])
    assert [row["runs"] for row in observed.to_dict()["computed_from"]["circuits"]] == [3]
    plain = estimate([bell], 100, backend="fake_manila", target=target)
    assert observed.seconds - 2.0 == pytest.approx(3 * (plain.seconds - 2.0), abs=2e-3)


def test_a_sweep_is_estimated_per_binding_and_per_pub_shots():
    """A 50-point sweep runs its circuit 50 times (times its observable terms), not once; a PUB's
    own shots or precision replaces the job's."""
    from qiskit.circuit import Parameter

    from executors.usage_estimate import pub_runs

    theta = Parameter("theta")
    swept = QuantumCircuit(2)
    swept.ry(theta, 0)
    swept.cx(0, 1)
    values = [[0.1 * k] for k in range(50)]
    sweep = ExecutionRequest(
        circuits=[swept], primitive="estimator", shots=1000, parameter_values=[values], observables=[["ZZ", "XX"]]
    )
    assert pub_runs(sweep) == [(1000, 100)]
    arrays = ExecutionRequest(
        circuits=[swept],
        primitive="estimator",
        shots=1000,
        parameter_values=[values],
        observables=[{"array": [{"ZZ": 1.0, "XX": 0.5}]}],  # one observable of two terms, broadcast
        precisions=[0.05],
    )
    assert pub_runs(arrays) == [(400, 100)]
    sampled = ExecutionRequest(circuits=[swept], shots=1000, parameter_values=[values], pub_shots=[10])
    assert pub_runs(sampled) == [(10, 50)]
    target, _ = backend_target("fake_manila")
    one = estimate([swept], 1000, backend="fake_manila", target=target, runs=[(1000, 1)])
    many = estimate([swept], 1000, backend="fake_manila", target=target, runs=pub_runs(sweep))
    assert many.seconds - 2.0 == pytest.approx(100 * (one.seconds - 2.0), abs=0.1)  # one is rounded to the ms
