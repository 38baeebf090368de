"""PUB sweeps on an ``ibm_cloud`` profile, through the worker and the real qiskit-ibm-runtime
client against the IBM stand-in: a sweep is ONE PUB of the IBM job, and its results keep their
shape."""

from __future__ import annotations

import math

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from tests.stats import assert_counts_match
from tests.test_cloud_jobs import cloud_setup, executors  # noqa: F401 - executors is a fixture
from tests.test_pub_sweeps import M1, M1_JSON, THETAS, exact_evs, qpy_text, seed_circuit


def _run(api, run_jobs, body) -> dict:
    resp = api.post("/jobs", body)
    assert resp.status_code == 201, resp.content
    run_jobs()
    job = api.job_with_results(resp.json()["id"])
    assert job["status"] == "done", job
    return job


def test_fifty_point_estimator_sweep_is_one_pub_of_one_ibm_job(api_for, users, standin, executors, run_jobs):  # noqa: F811
    assert not standin.noise  # ideal Aer: the exact values are the reference
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    entry = {"qpy": qpy_text(seed_circuit()), "parameter_values": THETAS, "observables": M1_JSON, "precision": 0.02}
    job = _run(
        api, run_jobs, {"profile": "cloud", "team": users["lab"].id, "primitive": "estimator", "circuits": [entry]}
    )
    [remote] = standin.jobs.values()
    assert len(remote.params["pubs"]) == 1  # one PUB, not 50 circuits
    (result,) = job["results"]
    assert result["shape"] == [50]
    for ev, std, want in zip(result["evs"], result["stds"], exact_evs(seed_circuit(), M1, THETAS), strict=True):
        assert 0 < std <= 0.1  # precision 0.02 per Pauli term; M1 sums four (BackendEstimatorV2)
        assert abs(ev - want) <= 4 * std, (ev, want, std)


def test_sampler_sweep_on_ibm_counts_each_binding(api_for, users, standin, executors, run_jobs):  # noqa: F811
    assert not standin.noise
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    theta = Parameter("theta")
    circuit = QuantumCircuit(1, 1)
    circuit.ry(theta, 0)
    circuit.measure(0, 0)
    values = [[[0.0], [1.0], [2.0]]]  # shape (1, 3)
    entry = {"qpy": qpy_text(circuit), "parameter_values": values, "shots": 1500}
    job = _run(api, run_jobs, {"profile": "cloud", "team": users["lab"].id, "circuits": [entry]})
    [remote] = standin.jobs.values()
    assert len(remote.params["pubs"]) == 1
    (result,) = job["results"]
    assert result["shape"] == [1, 3] and result["shots"] == 1500
    for binding, angle in zip(result["binding_counts"][0], [0.0, 1.0, 2.0], strict=True):
        one = math.sin(angle / 2) ** 2
        assert_counts_match(binding, {"0": 1 - one, "1": one}, 1500)
    assert np.sum([sum(b.values()) for b in result["binding_counts"][0]]) == sum(result["counts"].values())
