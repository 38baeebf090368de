import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives.containers.estimator_pub import EstimatorPub

from executors.base import InvalidRequest
from executors.sweeps import pub_shape


def _circuit():
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    return circuit


def test_fifty_point_sweep_shape_matches_qiskit():
    circuit = _circuit()
    values = np.linspace(0, np.pi, 50).reshape(50, 1)
    assert pub_shape(circuit, values.tolist(), ["Z"]) == (50,)
    expected = EstimatorPub.coerce((circuit, "Z", values)).shape
    assert pub_shape(circuit, values.tolist(), "Z") == expected


def test_observables_broadcast_against_bindings():
    circuit = _circuit()
    values = np.zeros((3, 1))
    assert pub_shape(circuit, values.tolist(), [["Z"], ["X"]]) == (2, 3)


def test_shape_mismatch_names_circuit_and_shapes():
    circuit = _circuit()
    with pytest.raises(InvalidRequest, match=r"circuit 2: observables of shape \(2,\).*\(3,\)"):
        pub_shape(circuit, np.zeros((3, 1)).tolist(), ["Z", "X"], index=2)


def test_wrong_parameter_count_and_flat_binding():
    circuit = _circuit()
    assert pub_shape(circuit, [0.5]) == ()
    with pytest.raises(InvalidRequest, match="circuit 0"):
        pub_shape(circuit, [[0.1, 0.2]])


def test_non_finite_value_is_refused():
    with pytest.raises(InvalidRequest, match="circuit 1: parameter_values holds a value that is not finite"):
        pub_shape(_circuit(), [[0.1], [float("nan")]], index=1)


def test_local_sweep_of_controlled_rotations_matches_statevector():
    """Aer 0.17 binds parametrised controlled gates (crz, cry, cp...) wrongly from bindings: the
    local executor rebases them before a sweep's bindings reach Aer, so every point is exact."""
    import asyncio

    from qiskit.quantum_info import SparsePauliOp, Statevector

    from executors.base import ExecutionRequest
    from executors.local import LocalSimulatorExecutor
    from executors.sweeps import ARRAY_KEY

    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(2)
    circuit.h([0, 1])
    circuit.rx(b, 0)
    circuit.crz(a + b, 0, 1)
    circuit.cry(2 * a, 1, 0)
    circuit.cp(b, 0, 1)
    values = np.random.default_rng(5).uniform(-3, 3, size=(6, 2))
    labels = ["ZI", "IZ", "XX", "YZ", "XY"]
    request = ExecutionRequest(
        circuits=[circuit],
        primitive="estimator",
        shots=1000,
        observables=[{ARRAY_KEY: [[label] for label in labels]}],
        parameter_values=[values.tolist()],
        precisions=[0.005],
    )
    (result,) = asyncio.run(LocalSimulatorExecutor().run(request)).circuits
    assert result.shape == (5, 6)
    evs = np.asarray(result.evs).reshape(5, 6)
    exact = np.array(
        [
            [Statevector(circuit.assign_parameters(v)).expectation_value(SparsePauliOp(o)).real for v in values]
            for o in labels
        ]
    )
    assert np.all(np.abs(evs - exact) <= 4 * 0.005), np.abs(evs - exact).max()
