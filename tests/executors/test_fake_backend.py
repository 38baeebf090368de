"""FakeBackendExecutor on fake_manila: device-like noisy runs, ideal runs on the device layout, options.

Noisy sampler bound.  The exact noisy distribution is a property of the backend's noise model
(gate depolarising + thermal relaxation, relaxation during measurement, readout error), so the
reference is that same noise model applied directly by Aer to the same ISA circuit, sampled with
50x more shots and a different seed.  A two-sample test at 5 combined standard errors then checks
everything our executor adds (transpilation, runtime primitive, bit order, register joining,
result conversion) without copying any number.  The ideal (noise=False) runs on the same device
layout are checked against exact statevector probabilities, so a transpilation or layout mistake
cannot hide inside the noise.
"""

from __future__ import annotations

import math
from functools import cache

import pytest
from qiskit import QuantumCircuit, qasm2
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_aer import AerSimulator

from executors import ExecutionRequest, ExecutorSpec, InvalidRequest, backend_max_qubits, build_executor
from executors.fake_backend import fake_backend, list_fake_backends
from executors.runtime import DEFAULT_OPTIMIZATION_LEVEL, cloud_options, transpile_to_isa
from tests.circuits import bell, ghz
from tests.stats import assert_counts_match, assert_same_distribution, exact_probabilities

SHOTS = 4000
REFERENCE_SHOTS = 200_000
SEED = 11


def fake(**kwargs) -> object:
    options = {"seed": SEED, **kwargs.pop("options", {})}
    return build_executor(ExecutorSpec(kind="fake", backend="fake_manila", options=options, **kwargs))


@cache
def _noisy_reference(qasm: str) -> tuple[dict[str, int], list[int]]:
    circuit = qasm2.loads(qasm)
    backend = fake_backend("fake_manila")
    isa = transpile_to_isa([circuit], backend, DEFAULT_OPTIMIZATION_LEVEL, SEED)[0]
    counts = AerSimulator.from_backend(backend).run(isa, shots=REFERENCE_SHOTS, seed_simulator=99).result().get_counts()
    return counts, isa.layout.final_index_layout()


def noisy_reference(circuit: QuantumCircuit) -> tuple[dict[str, int], list[int]]:
    """Counts of the noise model itself on the ISA circuit, and that circuit's physical qubits."""
    return _noisy_reference(qasm2.dumps(circuit))


@pytest.mark.parametrize(("mode", "single_job"), [("job", True), ("job", False), ("batch", True), ("session", False)])
async def test_noisy_sampler_matches_the_noise_model(mode, single_job):
    circuits = [bell(), ghz(3), ghz(5)]
    result = await fake(mode=mode, single_job=single_job).run(ExecutionRequest(circuits=circuits, shots=SHOTS))
    assert result.metadata["mode"] == mode
    for circuit, circuit_result in zip(circuits, result.circuits, strict=True):
        reference, layout = noisy_reference(circuit)
        assert circuit_result.metadata["physical_qubits"] == layout
        assert_same_distribution(circuit_result.counts, SHOTS, reference, REFERENCE_SHOTS)
        ideal = exact_probabilities(circuit)
        # the device is noisy: outcomes the ideal circuit never gives do appear
        assert set(circuit_result.counts) - set(ideal)


async def test_ideal_run_on_the_device_layout_matches_exact_probabilities():
    skewed = QuantumCircuit(3, 3)
    skewed.ry(0.7, 0)
    skewed.ry(2.1, 1)
    skewed.cx(1, 2)
    skewed.rx(0.4, 2)
    skewed.measure([0, 1, 2], [0, 1, 2])
    circuits = [bell(), ghz(5), skewed]
    result = await fake(options={"noise": False}).run(ExecutionRequest(circuits=circuits, shots=SHOTS))
    for circuit, circuit_result in zip(circuits, result.circuits, strict=True):
        assert_counts_match(circuit_result.counts, exact_probabilities(circuit), SHOTS)


async def test_ideal_estimator_maps_observables_through_the_layout():
    a, b = Parameter("a"), Parameter("b")
    ansatz = QuantumCircuit(3)
    ansatz.ry(a, 0)
    ansatz.rx(b, 1)
    ansatz.cx(0, 2)
    ansatz.crz(a + b, 1, 2)
    ansatz.h(1)
    values = [0.9, -2.3]
    bare_bell = bell().remove_final_measurements(inplace=False)
    labels = [["ZZ", "XX", "YY", "ZI"], ["ZIZ", "IZI", "XIX", "ZZZ"]]
    shots = 8000
    result = await fake(options={"noise": False}).run(
        ExecutionRequest(
            circuits=[bell(), ansatz],
            primitive="estimator",
            shots=shots,
            observables=labels,
            parameter_values=[None, values],
        )
    )
    states = [Statevector(bare_bell), Statevector(ansatz.assign_parameters(values))]
    for state, circuit_labels, circuit_result in zip(states, labels, result.circuits, strict=True):
        for label, ev, std in zip(circuit_labels, circuit_result.evs, circuit_result.stds, strict=True):
            exact = state.expectation_value(SparsePauliOp(label)).real
            # stds is the backend's own standard error of the shot average (0 when every shot agrees)
            assert abs(ev - exact) <= 4 * std + 1e-9, (label, ev, exact, std)


async def test_noisy_estimator_reports_uncertainty():
    result = await fake().run(
        ExecutionRequest(circuits=[bell()], primitive="estimator", shots=4000, observables=[["ZZ", "XX"]])
    )
    evs, stds = result.circuits[0].evs, result.circuits[0].stds
    assert all(-1 <= ev <= 1 for ev in evs)
    assert all(0 < std < 5 / math.sqrt(4000) for std in stds)


async def test_pre_transpiled_circuits_without_local_transpile():
    backend = fake_backend("fake_manila")
    isa = transpile_to_isa([bell()], backend, 1, SEED)[0]
    ok = await fake(local_transpile=False).run(ExecutionRequest(circuits=[isa], shots=100))
    assert sum(ok.circuits[0].counts.values()) == 100
    raw = QuantumCircuit(2, 2)
    raw.h(0)
    raw.cx(0, 1)
    raw.measure([0, 1], [0, 1])
    with pytest.raises(InvalidRequest, match="does not match fake_manila's instruction set"):
        await fake(local_transpile=False).run(ExecutionRequest(circuits=[raw], shots=100))


async def test_cloud_only_options_are_reported_as_ignored_locally():
    result = await fake(options={"twirling": True, "resilience_level": 1}).run(
        ExecutionRequest(circuits=[bell()], shots=50)
    )
    assert result.metadata["ignored_options"] == ["resilience_level", "twirling"]


def test_cloud_options():
    profile = {
        "seed": 3,
        "resilience_level": 2,
        "dynamical_decoupling": True,
        "twirling": True,
        "max_execution_time": 60,
    }
    cloud, dropped = cloud_options("estimator", profile, shots=100, tags=["qportal:abc"])
    assert dropped == []
    assert cloud["resilience_level"] == 2
    assert cloud["seed_estimator"] == 3 and cloud["simulator"] == {"seed_simulator": 3}
    assert cloud["dynamical_decoupling"] == {"enable": True}
    assert cloud["twirling"] == {"enable_gates": True, "enable_measure": True}
    assert cloud["max_execution_time"] == 60 and cloud["default_shots"] == 100
    assert cloud["environment"] == {"job_tags": ["qportal:abc"]}
    sampler, dropped = cloud_options("sampler", profile, shots=100, tags=[])
    assert "resilience_level" not in sampler and dropped == ["resilience_level"]
    from qiskit_ibm_runtime.options import EstimatorOptions

    EstimatorOptions(**cloud)  # every key is one the runtime accepts


def test_backend_catalogue():
    backends = {item["name"]: item["num_qubits"] for item in list_fake_backends()}
    assert backends["fake_manila"] == 5
    assert backend_max_qubits(ExecutorSpec(kind="fake", backend="fake_manila")) == 5
    assert backend_max_qubits(ExecutorSpec(kind="local")) >= 20
    with pytest.raises(InvalidRequest, match="unknown fake backend 'fake_nowhere'"):
        build_executor(ExecutorSpec(kind="fake", backend="fake_nowhere"))
    with pytest.raises(InvalidRequest, match="choose a fake backend"):
        build_executor(ExecutorSpec(kind="fake"))
