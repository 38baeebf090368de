"""PortalSampler / PortalEstimator against a real portal (``manage.py serve`` with its embedded
worker, in a subprocess): Qiskit's own types, shapes, register names and shot counts, the
distributions of StatevectorSampler, exact expectation values within their standard errors, and
a SciPy-minimised VQE loop on fake_manila."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter, ParameterVector
from qiskit.primitives import (
    BaseEstimatorV2,
    BasePrimitiveJob,
    BaseSamplerV2,
    BitArray,
    PrimitiveResult,
    StatevectorEstimator,
    StatevectorSampler,
)
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp, Statevector
from scipy.optimize import minimize

from executors.base import InvalidRequest
from executors.fake_backend import fake_backend
from executors.portal_client import PortalClient
from executors.primitives import PortalEstimator, PortalSampler, PortalSession
from tests.browser.conftest import manage, start_server
from tests.stats import assert_same_distribution
from tests.test_pub_sweeps import M1, THETAS, seed_circuit


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("portal"), setup=False)
    try:
        key = manage(server.env, "create_api_key", "alice").strip().splitlines()[-1]
        yield PortalClient(server.base_url, key, timeout=60)
    finally:
        server.stop()


def _bell() -> QuantumCircuit:
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    return bell


def _rotations() -> QuantumCircuit:
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(2)
    circuit.ry(a, 0)
    circuit.cx(0, 1)
    circuit.ry(b, 1)
    circuit.measure_all()
    return circuit


def _two_registers() -> QuantumCircuit:
    qubits, alpha, beta = QuantumRegister(3, "q"), ClassicalRegister(1, "alpha"), ClassicalRegister(2, "beta")
    circuit = QuantumCircuit(qubits, alpha, beta)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.ry(0.9, 2)
    circuit.measure(2, alpha[0])
    circuit.measure([0, 1], [beta[0], beta[1]])
    return circuit


def test_sampler_matches_statevector_sampler_in_shapes_names_and_distribution(client):
    values = np.array([[[0.0, 0.0], [0.8, 0.3], [np.pi, 1.2]], [[0.4, 2.0], [1.6, 0.1], [2.5, 2.5]]])  # (2, 3, 2)
    pubs = [
        _bell(),  # bare circuit
        (_rotations(), values),  # (circuit, values) with 2-D bindings
        _two_registers(),  # two classical registers
        (_rotations(), values[0, :2], 700),  # its own shots
    ]
    sampler = PortalSampler(client=client, profile="local")
    assert isinstance(sampler, BaseSamplerV2)
    job = sampler.run(pubs, shots=3000)
    assert isinstance(job, BasePrimitiveJob)
    result = job.result()
    assert job.status() == JobStatus.DONE and job.done() and job.in_final_state()
    reference = StatevectorSampler(seed=11).run(pubs, shots=20000).result()
    assert isinstance(result, PrimitiveResult) and len(result) == len(reference) == 4
    assert [r.metadata["shots"] for r in result] == [3000, 3000, 3000, 700]
    for ours, theirs in zip(result, reference, strict=True):
        assert list(ours.data) == list(theirs.data)  # the registers, by name and in order
        assert ours.data.shape == theirs.data.shape
        for name in theirs.data:
            mine, exact = ours.data[name], theirs.data[name]
            assert isinstance(mine, BitArray)
            assert (mine.shape, mine.num_bits) == (exact.shape, exact.num_bits)
            assert mine.num_shots == ours.metadata["shots"]
            for position in np.ndindex(exact.shape):
                assert_same_distribution(
                    mine[position].get_counts(), mine.num_shots, exact[position].get_counts(), exact.num_shots
                )
    assert result[0].data.meas.get_counts().keys() <= {"00", "11"}
    # the two registers keep their own bits: alpha is qubit 2's ry(0.9), beta the Bell pair
    assert result[2].data.beta.get_counts().keys() <= {"00", "11"}
    assert result[2].data.alpha.get_counts()["1"] / 3000 == pytest.approx(math.sin(0.45) ** 2, abs=0.04)


def test_job_status_default_shots_and_cancel(client):
    sampler = PortalSampler(client=client, profile="local", options={"default_shots": 321})
    job = sampler.run([_bell(), (_bell(), None, 50)])
    result = job.result()
    assert [pub.data.meas.num_shots for pub in result] == [321, 50]
    portal_job = client.job(job.job_id())
    assert portal_job["shots"] == 321 and portal_job["memory"] is True
    assert job.status() == JobStatus.DONE and not job.running() and not job.cancelled()
    with pytest.raises(InvalidRequest, match="already done"):
        job.cancel()  # the portal's answer: a finished job cannot be cancelled


def _exact(circuit, observable, values) -> np.ndarray:
    return np.array([Statevector(circuit.assign_parameters(v)).expectation_value(observable).real for v in values])


def test_fifty_point_sweep_is_one_pub_through_portal_estimator(client):
    circuit = seed_circuit()
    estimator = PortalEstimator(client=client, profile="local")
    assert isinstance(estimator, BaseEstimatorV2)
    pubs = [
        (circuit, M1, THETAS),  # the seeds' example: one PUB of 50 bindings
        (circuit, [[M1], [SparsePauliOp("XXX")]], THETAS[:5]),  # observables (2, 1) x values (5,)
        (circuit, "XXY", [0.3]),  # one binding, one observable: shape ()
    ]
    job = estimator.run(pubs, precision=0.02)
    result = job.result()
    reference = StatevectorEstimator().run(pubs).result()
    assert [r.data.shape for r in result] == [r.data.shape for r in reference] == [(50,), (2, 5), ()]
    for ours, theirs in zip(result, reference, strict=True):
        assert list(ours.data) == list(theirs.data) == ["evs", "stds"]
        assert ours.data.evs.shape == ours.data.stds.shape == theirs.data.evs.shape
        assert np.all(ours.data.stds == pytest.approx(0.02))
        assert np.all(np.abs(ours.data.evs - theirs.data.evs) <= 4 * ours.data.stds)
    np.testing.assert_allclose(reference[0].data.evs, _exact(circuit, M1, THETAS), atol=1e-9)
    assert client.job(job.job_id())["num_circuits"] == 3  # one circuit entry per PUB, not per binding
    assert result[0].metadata["target_precision"] == 0.02


def test_jobs_join_the_session_given_as_mode(client):
    """``mode=`` is a portal session: its client and profile are used and each job runs in it."""
    with PortalSession(client, profile="local") as session:
        estimator = PortalEstimator(mode=session)
        estimator_job = estimator.run([(seed_circuit(), "XXY", [0.3])])
        (pub,) = estimator_job.result()
        sampler_job = PortalSampler(mode=session).run([_bell()], shots=10)
        sampler_job.result()
        listed = [job["id"] for job in client.session(session.id)["jobs"]]
    assert listed == [estimator_job.job_id(), sampler_job.job_id()]
    assert client.session(session.id)["status"] == "closed"
    assert pub.data.evs.shape == ()


def test_a_pub_the_portal_refuses_raises_its_message(client):
    """Qiskit's own checks run first (a PUB Qiskit refuses never reaches the portal); what only
    the portal limits (here: shots) comes back as InvalidRequest with the portal's message."""
    with pytest.raises(ValueError, match="number of qubits"):
        PortalEstimator(client=client, profile="local").run([(seed_circuit(), "ZZ", [0.1])])
    with pytest.raises(InvalidRequest, match="circuit 0: shots must be an integer between 1 and 100000"):
        PortalSampler(client=client, profile="local").run([(_bell(), None, 200_000)])


# The seeds' two-qubit Hamiltonian (H1 of the Session example): II + 2 IZ + 3 XI.
H1 = SparsePauliOp.from_list([("II", 1), ("IZ", 2), ("XI", 3)])


def _ansatz() -> QuantumCircuit:
    """ry on each qubit, then a CX: E(a, b) = 1 + 2 cos(a) + 3 sin(b) (X on the target commutes
    with the CX), smooth with one minimum, -4 at (pi, -pi/2)."""
    angles = ParameterVector("x", 2)
    circuit = QuantumCircuit(2)
    circuit.ry(angles[0], 0)
    circuit.ry(angles[1], 1)
    circuit.cx(0, 1)
    return circuit


def _expected_bias(backend, physical: list[int]) -> float:
    """How far fake_manila's noise should lift the energy at the minimum, from its own error
    rates on the qubits the job ran on: a measured Pauli factor shrinks by 1 - 2 r for readout
    error r on its qubit; depolarising gates shrink every term by 1 - 4/3 e for the CX's error
    e (two qubits) and 1 - 2 e for each single-qubit sx (a ry and a basis change are at most 3
    per qubit)."""
    target = backend.target
    readout = [target["measure"][(q,)].error for q in physical]
    cx = target["cx"].get(tuple(physical)) or target["cx"].get(tuple(reversed(physical)))
    sx = max(target["sx"][(q,)].error for q in physical)
    gates = (1 - 4 / 3 * cx.error) * (1 - 2 * sx) ** 6
    bias = 0.0
    for label, coeff in H1.to_list():
        shrink = gates
        for qubit, letter in enumerate(reversed(label)):
            if letter != "I":
                shrink *= 1 - 2 * readout[qubit]
        if label != "II":
            bias += abs(coeff.real) * (1 - shrink)
    return bias


def test_vqe_loop_on_fake_manila_reaches_the_ground_energy(client):
    ground = float(np.linalg.eigvalsh(H1.to_matrix()).min())
    assert ground == pytest.approx(-4.0)
    ansatz = _ansatz()
    session = PortalSession(client, profile="fake_manila", max_time=600, name="vqe").open()
    estimator = PortalEstimator(mode=session)  # the form: one session for the whole loop
    calls = []

    def energy(x):
        (pub,) = estimator.run([(ansatz, H1, x)], precision=0.02).result()
        calls.append(float(pub.data.evs))
        return calls[-1]

    found = minimize(
        energy, x0=np.array([0.3, -0.3]), method="COBYLA", options={"maxiter": 40, "rhobeg": 0.8}, tol=1e-3
    )
    assert len(calls) >= 20
    (final,) = estimator.run([(ansatz, H1, found.x)], precision=0.01).result()
    session.close()
    details = client.session(session.id)
    assert len(details["jobs"]) == len(calls) + 1 and details["status"] == "closed"
    measured, std = float(final.data.evs), float(final.data.stds)
    # The tolerance: the bias fake_manila's noise should add at the minimum (_expected_bias, from
    # the backend's error rates on the physical qubits the job ran on), 4 standard errors of the
    # final estimate, and 0.25 for COBYLA stopping where the energy's differences drown in its
    # noise (precision 0.02): near the minimum angles off by d cost about 2.5 d**2, so 0.25
    # allows d = 0.3 rad in both.
    bias = _expected_bias(fake_backend("fake_manila"), final.metadata["portal"]["physical_qubits"])
    assert 0 < bias < 0.8
    assert measured == pytest.approx(ground + bias, abs=4 * std + 0.25), (measured, ground, bias, std)
    assert calls[0] > ground + 5  # the loop started far from it


def test_qiskit_algorithms_vqe_and_grover_run_through_the_portal_unchanged(client):
    """qiskit-algorithms (0.4, V2 primitives) takes PortalEstimator and PortalSampler as they are:
    its VQE reaches H1's ground energy on the local simulator, inside one portal session, and its
    Grover search finds the marked state."""
    from qiskit_algorithms import VQE, AmplificationProblem, Grover
    from qiskit_algorithms.optimizers import COBYLA

    with PortalSession(client, profile="local", name="qiskit-algorithms vqe") as session:
        estimator = PortalEstimator(mode=session, options={"default_precision": 0.01})
        vqe = VQE(estimator, _ansatz(), COBYLA(maxiter=60), initial_point=np.array([0.3, -0.3]))
        found = vqe.compute_minimum_eigenvalue(H1)
    # Shot noise of 0.01 per call, and COBYLA stopping within about 0.3 rad of the minimum
    # (2.5 d**2 = 0.25, as in the fake_manila loop above).
    assert found.eigenvalue.real == pytest.approx(-4.0, abs=0.25 + 4 * 0.01)
    details = client.session(session.id)
    assert details["status"] == "closed" and len(details["jobs"]) == found.cost_function_evals

    oracle = QuantumCircuit(3)
    oracle.ccz(0, 1, 2)  # marks |111>
    problem = AmplificationProblem(oracle, is_good_state=["111"])
    result = Grover(iterations=2, sampler=PortalSampler(client=client, profile="local")).amplify(problem)
    assert result.top_measurement == "111" and result.oracle_evaluation
    # two Grover iterations on 3 qubits: P(111) = sin(5 asin(1/sqrt 8))**2 = 0.945
    assert result.max_probability == pytest.approx(math.sin(5 * math.asin(8**-0.5)) ** 2, abs=0.05)
