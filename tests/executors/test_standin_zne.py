"""The IBM stand-in's zero-noise extrapolation: folding keeps the circuit's unitary and really
amplifies a noisy device's error, and the results have the shapes IBM's service documents."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator, SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from tests.ibm_standin import zne


def ghz(n: int) -> QuantumCircuit:
    circuit = QuantumCircuit(n)
    circuit.h(0)
    for qubit in range(1, n):
        circuit.cx(qubit - 1, qubit)
    return circuit


@pytest.mark.parametrize(("factor", "gates"), [(1, 2), (3, 6), (5, 10), (2, 4)])
def test_folding_multiplies_two_qubit_gates_and_keeps_the_unitary(factor, gates):
    circuit = ghz(3)
    folded = zne.fold(circuit, factor)
    assert sum(1 for item in folded.data if item.operation.num_qubits == 2) == gates
    assert Operator(folded).equiv(Operator(circuit))


def test_a_noisy_device_loses_more_at_higher_noise_and_the_fit_points_back_up():
    backend = FakeManilaV2()
    isa = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=1).run(ghz(2))
    observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
    options = {"resilience": {"zne": {"noise_factors": [1, 5, 9], "extrapolator": ["linear", "exponential"]}}}
    simulator = AerSimulator.from_backend(backend, seed_simulator=11)
    precision = 0.004
    [pub] = zne.run(simulator, [(isa, observable)], options, precision)
    at_factors = np.asarray(pub.data.evs_noise_factors)
    assert at_factors.shape == (3,) and np.asarray(pub.data.evs_extrapolated).shape == (2, 4)
    # The exact value is 1.  Manila's CX error (~1e-2) times 8 more CXs at factor 9 costs ~0.07;
    # two estimates of precision 0.004 differ by more than 5 of their combined errors (0.028) only
    # if the noise really grew.
    assert 1 > at_factors[0] > at_factors[1] > at_factors[2]
    assert at_factors[0] - at_factors[2] > 5 * np.sqrt(2) * precision
    # the linear fit slopes down, so its zero-noise value (the evs) lies above its value at factor 1
    linear = np.asarray(pub.data.evs_extrapolated)[0]
    assert pub.data.evs == pytest.approx(linear[0]) and linear[0] > linear[1]
    assert pub.metadata["resilience"]["zne"] == {
        "noise_factors": [1.0, 5.0, 9.0],
        "extrapolators": ["linear", "exponential"],
        "extrapolated_noise_factors": [0.0, 1.0, 5.0, 9.0],
    }
