"""QElectrons: statistics against exact results, wire order, interfaces, selection and futures."""

from __future__ import annotations

import threading
import time

import numpy as np
import pennylane as qml
import pennylane.numpy as pnp
import pytest

from executors.base import InvalidRequest, RemoteJobFailed, TransientError
from executors.cluster import ClusterExecutor
from executors.local import AerSamplerExecutor, LocalSimulatorExecutor
from executors.pennylane import PennyLaneDeviceExecutor
from executors.qelectron import qelectron
from tests.executors.qe_helpers import (
    Failing,
    Held,
    Recorder,
    assert_expval_close,
    assert_probs_close,
)

SHOTS = 4096
X = [0.6, -1.57]


def iqp(x):
    qml.IQPEmbedding(features=x, wires=[0, 1])
    qml.Hadamard(wires=1)
    return qml.probs(wires=range(2))


def asymmetric(x):
    """Wire 0 rarely flips, wire 2 often: a reversed wire order moves the mass visibly."""
    qml.RY(x[0], wires=0)
    qml.RX(x[1], wires=2)
    qml.CNOT(wires=[0, 1])
    qml.Hadamard(wires=1)
    return (
        qml.probs(wires=[0, 1, 2]),
        qml.probs(wires=[2, 0]),
        qml.expval(qml.Z(0) @ qml.Y(2)),
        qml.expval(qml.X(1)),
        qml.var(qml.Z(2)),
    )


def qnodes(func, wires, shots=SHOTS):
    device = qml.device("default.qubit", wires=wires)
    return qml.set_shots(qml.QNode(func, device), shots), qml.QNode(func, device)


def member_factories():
    return {
        "aer_sampler": lambda: AerSamplerExecutor(),
        "local": lambda: LocalSimulatorExecutor(),
        "pennylane": lambda: PennyLaneDeviceExecutor("default.qubit"),
    }


def interface_args(values, interface):
    return pnp.array(values, requires_grad=True) if interface == "autograd" else np.array(values)


@pytest.mark.parametrize("interface", ["numpy", "autograd"])
def test_iqp_probs_match_exact_on_every_member(interface):
    sampled, exact = qnodes(iqp, 2)
    log: list[str] = []
    members = [Recorder(make(), name, log) for name, make in member_factories().items()]
    circuit = qelectron(executors=members)(sampled)
    x = interface_args(X, interface)
    expected = exact(x)
    plain = sampled(x)
    for _ in members:
        result = circuit(x)
        assert type(result) is type(plain)
        assert_probs_close(result, expected, SHOTS)
    assert log == ["aer_sampler", "local", "pennylane"]


@pytest.mark.parametrize("interface", ["numpy", "autograd"])
def test_asymmetric_circuit_keeps_wire_order(interface):
    sampled, exact = qnodes(asymmetric, 3)
    members = [make() for make in member_factories().values()]
    circuit = qelectron(executors=members)(sampled)
    x = interface_args([0.4, 1.1], interface)
    expected = exact(x)
    plain = sampled(x)
    for _ in members:
        result = circuit(x)
        assert type(result) is type(plain) and len(result) == len(plain)
        assert_probs_close(result[0], expected[0], SHOTS)
        assert_probs_close(result[1], expected[1], SHOTS)
        assert_expval_close(result[2], expected[2], SHOTS)
        assert_expval_close(result[3], expected[3], SHOTS)
        assert abs(result[4] - expected[4]) < 10 / np.sqrt(SHOTS)


def test_reversed_order_would_be_caught():
    """The asymmetric circuit's probabilities are far from their wire-reversed selves."""
    _, exact = qnodes(asymmetric, 3)
    probs = exact(np.array([0.4, 1.1]))[0]
    reversed_probs = probs.reshape(2, 2, 2).transpose(2, 1, 0).reshape(-1)
    assert np.max(np.abs(probs - reversed_probs)) > 10 * np.sqrt(0.25 / SHOTS)


def test_counts_and_samples_have_the_qnodes_shape():
    def func(x):
        qml.RX(x, wires=0)
        qml.CNOT(wires=[0, 1])
        return qml.counts(wires=[1, 0]), qml.sample(wires=[0, 1])

    sampled, _ = qnodes(func, 2, shots=500)
    counts, samples = qelectron(sampled)(0.7)
    plain_samples = sampled(0.7)[1]
    assert samples.shape == plain_samples.shape == (500, 2)
    assert sum(counts.values()) == 500
    assert set(counts) <= {"00", "11"}
    assert np.all(samples[:, 0] == samples[:, 1])


def test_analytic_qnode_on_analytic_pennylane_executor_is_exact():
    _, exact = qnodes(iqp, 2)
    circuit = qelectron(executors=PennyLaneDeviceExecutor(shots=0))(exact)
    np.testing.assert_allclose(circuit(np.array(X)), exact(np.array(X)), atol=1e-12)


def test_cyclic_order_is_exact_for_calls_and_futures():
    sampled, _ = qnodes(iqp, 2, shots=64)
    log: list[str] = []
    members = [Recorder(AerSamplerExecutor(), f"m{i}", log) for i in range(3)]
    circuit = qelectron(executors=members, selector="cyclic")(sampled)
    circuit(X)
    futures = [circuit.run_later(X) for _ in range(5)]
    for future in futures:
        future.result(timeout=30)
    assert [f.execution.metadata["executor"] for f in futures] == ["m1", "m2", "m0", "m1", "m2"]
    assert log == ["m0", "m1", "m2", "m0", "m1", "m2"]


def test_custom_selector_is_honoured():
    sampled, _ = qnodes(iqp, 2, shots=64)
    log: list[str] = []
    members = [Recorder(AerSamplerExecutor(), f"m{i}", log) for i in range(3)]
    seen = []

    def last(executors, request):
        seen.append(len(request.circuits))
        return executors[-1]

    circuit = qelectron(executors=members, selector=last)(sampled)
    for _ in range(3):
        circuit(X)
    assert log == ["m2", "m2", "m2"]
    assert seen == [1, 1, 1]


def test_failover_after_transient_error_is_recorded():
    sampled, exact = qnodes(iqp, 2)
    log: list[str] = []
    flaky = Failing(AerSamplerExecutor(), "flaky", log, TransientError("backend busy"))
    members = [flaky, Recorder(AerSamplerExecutor(), "steady", log)]
    circuit = qelectron(executors=members)(sampled)
    future = circuit.run_later(X)
    assert_probs_close(future.result(timeout=30), exact(np.array(X)), SHOTS)
    assert log == ["flaky", "steady"]
    metadata = future.execution.metadata
    assert metadata["executor"] == "steady"
    assert [(e["executor"], e["type"], e["error"]) for e in metadata["failover"]] == [
        ("flaky", "TransientError", "backend busy")
    ]


@pytest.mark.parametrize("error", [InvalidRequest("bad circuit"), RemoteJobFailed("error 1305")])
def test_terminal_errors_are_not_retried(error):
    sampled, _ = qnodes(iqp, 2, shots=64)
    log: list[str] = []
    members = [Failing(AerSamplerExecutor(), "first", log, error), Recorder(AerSamplerExecutor(), "second", log)]
    circuit = qelectron(executors=members)(sampled)
    with pytest.raises(type(error), match=str(error)):
        circuit(X)
    assert log == ["first"]


def test_run_later_timeout_cancel_and_callbacks():
    sampled, exact = qnodes(iqp, 2)
    log: list[str] = []
    held = Held(AerSamplerExecutor(), "held", log)
    cluster = ClusterExecutor([held])
    circuit = qelectron(executors=cluster)(sampled)
    try:
        future = circuit.run_later(X)
        with pytest.raises(TimeoutError):
            future.result(timeout=0.1)
        assert not future.done()
        called = threading.Event()
        future.add_done_callback(lambda f: called.set())
        assert future.cancel()
        assert future.cancelled() and called.wait(1)
        assert held.cancelled.wait(5), "cancelling the future must cancel the executor's run"
        deadline = time.monotonic() + 5
        while cluster.in_flight() != [0] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cluster.in_flight() == [0]

        second = circuit.run_later(X)
        results = []
        second.add_done_callback(lambda f: results.append(f.result()))
        held.release.set()
        assert_probs_close(second.result(timeout=30), exact(np.array(X)), SHOTS)
        deadline = time.monotonic() + 5
        while not results and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(results) == 1 and results[0] is second.result()
    finally:
        held.release.set()


def test_unsupported_measurement_is_refused():
    def state():
        qml.Hadamard(wires=0)
        return qml.state()

    circuit = qelectron(qml.QNode(state, qml.device("default.qubit", wires=1)))
    with pytest.raises(InvalidRequest, match="cannot be computed from samples"):
        circuit()


class FlakySync(AerSamplerExecutor):
    """Records its synchronous runs; fails the first one with a transient fault if ``flaky``."""

    def __init__(self, log: list[str], flaky: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.log = log
        self.flaky = flaky

    def run_sync(self, request):
        self.log.append(self.name)
        if self.flaky:
            self.flaky = False
            raise TransientError("dropped connection")
        return super().run_sync(request)


def test_synchronous_call_fails_over_from_a_run_sync_member():
    sampled, exact = qnodes(iqp, 2)
    log: list[str] = []
    cluster = ClusterExecutor([FlakySync(log, True, name="a"), FlakySync(log, name="b"), FlakySync(log, name="c")])
    circuit = qelectron(executors=cluster)(sampled)
    assert_probs_close(circuit(X), exact(np.array(X)), SHOTS)
    assert log == ["a", "b"]
    assert_probs_close(circuit(X), exact(np.array(X)), SHOTS)
    assert log == ["a", "b", "b"]  # cyclic continues from the first pick, not the failover
    assert cluster.in_flight() == [0, 0, 0]
