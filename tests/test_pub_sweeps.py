"""PUB sweeps through the REST API and the worker: one circuit entry is one V2 PUB (an array of
parameter values, an observables array, its own shots or precision), run as one PUB, and its
results keep their shape."""

from __future__ import annotations

import base64
import io
import json
import math
import re

import numpy as np
import pytest
from django.urls import reverse
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector

from executors.base import CircuitResult
from qportal.jobs import stored_results
from qportal.jobs.models import Job, JobCircuit
from tests.stats import assert_counts_match

# The seeds' Estimator example (IBM's primitives guide): (|000> + e^{i theta}|111>)/sqrt(2),
# M1 = XXY + XYX + YXX - YYY, 50 values of theta in one PUB.
M1 = SparsePauliOp.from_list([("XXY", 1), ("XYX", 1), ("YXX", 1), ("YYY", -1)])
THETAS = [[x * 2.0 * np.pi / 50] for x in range(50)]
M1_JSON = {label: coeff.real for label, coeff in M1.to_list()}


def seed_circuit() -> QuantumCircuit:
    theta = Parameter("θ")
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.p(theta, 0)
    circuit.cx(0, 1)
    circuit.cx(0, 2)
    return circuit


def qpy_text(circuit: QuantumCircuit) -> str:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def exact_evs(circuit: QuantumCircuit, observable: SparsePauliOp, values: list[list[float]]) -> list[float]:
    return [float(Statevector(circuit.assign_parameters(v)).expectation_value(observable).real) for v in values]


def run(api, run_jobs, body) -> dict:
    resp = api.post("/jobs", body)
    assert resp.status_code == 201, resp.content
    run_jobs()
    job = api.job_with_results(resp.json()["id"])
    assert job["status"] == "done", job
    return job


def test_seed_fifty_point_sweep_is_one_pub_within_four_standard_errors(api_for, run_jobs):
    circuit = seed_circuit()
    body = {
        "profile": "local",
        "primitive": "estimator",
        "shots": 4000,
        "circuits": [{"qpy": qpy_text(circuit), "parameter_values": THETAS, "observables": M1_JSON}],
    }
    job = run(api_for("alice"), run_jobs, body)
    assert job["num_circuits"] == 1
    (result,) = job["results"]
    assert result["shape"] == [50]
    assert result["metadata"]["pubs_in_call"] == 1  # one PUB, not 50 circuits
    exact = exact_evs(circuit, M1, THETAS)
    assert len(result["evs"]) == len(result["stds"]) == 50
    for ev, std, want in zip(result["evs"], result["stds"], exact, strict=True):
        assert std == pytest.approx(1 / math.sqrt(4000))
        assert abs(ev - want) <= 4 * std, (ev, want, std)
    # <M1> = 2 sin(theta) ... swings through its extremes: a sweep, not one value repeated
    assert max(exact) > 1.9 and min(exact) < -1.9


def test_observables_array_broadcasts_against_values(api_for, run_jobs):
    """Qiskit's broadcasting: observables of shape (2, 1) with values of shape (3,) give (2, 3)."""
    circuit = seed_circuit()
    values = [[0.0], [np.pi / 2], [np.pi]]
    body = {
        "profile": "local",
        "primitive": "estimator",
        "shots": 10000,
        "circuits": [{"qpy": qpy_text(circuit), "parameter_values": values, "observables": [["XXX"], ["XXY"]]}],
    }
    (result,) = run(api_for("alice"), run_jobs, body)["results"]
    assert result["shape"] == [2, 3]
    assert np.shape(result["evs"]) == np.shape(result["stds"]) == (2, 3)
    for row, label in enumerate(["XXX", "XXY"]):
        exact = exact_evs(circuit, SparsePauliOp(label), values)
        for column in range(3):
            assert abs(result["evs"][row][column] - exact[column]) <= 4 * result["stds"][row][column]


def test_sampler_sweep_counts_per_binding_with_its_own_shots(api_for, users, run_jobs):
    theta = Parameter("theta")
    circuit = QuantumCircuit(1, 1)
    circuit.ry(theta, 0)
    circuit.measure(0, 0)
    grid = np.linspace(0, np.pi, 6).reshape(2, 3, 1)
    body = {
        "profile": "local",
        "shots": 100,
        "circuits": [{"qpy": qpy_text(circuit), "parameter_values": grid.tolist(), "shots": 2000}],
    }
    api = api_for("alice")
    job = run(api, run_jobs, body)
    (result,) = job["results"]
    assert result["shape"] == [2, 3]
    assert result["shots"] == 2000  # each binding's
    counts = result["binding_counts"]
    assert len(counts) == 2 and all(len(row) == 3 for row in counts)
    total: dict[str, int] = {}
    for position in np.ndindex(2, 3):
        angle = grid[position][0]
        one = math.sin(angle / 2) ** 2
        binding = counts[position[0]][position[1]]
        assert_counts_match(binding, {"0": 1 - one, "1": one}, 2000)
        for key, n in binding.items():
            total[key] = total.get(key, 0) + n
    assert result["counts"] == total  # the job's counts: the tally over every binding
    api.client.force_login(users["alice"])
    page = api.client.get(reverse("job-detail", args=[job["id"]])).content.decode()
    assert "the total over 6 bindings" in page  # the histogram says what it counts
    # the table's top outcome share is of all 6 x 2000 shots, and the summary says the shape
    # (the template rounds half up, Python's format half to even: compare within the last digit)
    top = re.search(r'<code class="top-outcome">([01])</code> <span class="muted small">([0-9.]+)%</span>', page)
    key, share = top.groups()
    assert total[key] == max(total.values())  # a top outcome (the two are close: P(1) is 1/2 over the grid)
    assert float(share) == pytest.approx(100 * total[key] / 12000, abs=0.051)  # not of one binding's 2000
    assert api.get(f"/jobs/{job['id']}").json()["results"][0]["shape"] == [2, 3]
    bars = dict(re.findall(r'data-key="([01])" data-count="(\d+)"', page))
    assert {key: int(n) for key, n in bars.items()} == total
    # One binding chosen (flat index 4: position [1,1], theta = 4 pi / 5): its own counts, each
    # bar with its ideal probability; the chooser lists every binding with its position and value.
    assert len(re.findall(r'<option value="\d+"', page)) == 6
    assert f'<option value="4">4 [1,1] · theta={grid[1, 1][0]:.4g}</option>' in page
    chosen = api.client.get(reverse("job-detail", args=[job["id"]]), {"circuit": 0, "binding": 4}).content.decode()
    assert f"binding 4 of 6 [1,1] · theta={grid[1, 1][0]:.4g}" in chosen
    shown = re.findall(r'data-key="([01])" data-count="(\d+)"[^>]*data-ideal="([0-9.]+)"', chosen)
    assert {key: int(n) for key, n, _ in shown} == counts[1][1]
    one = math.sin(grid[1, 1][0] / 2) ** 2
    assert {key: float(p) for key, _, p in shown} == pytest.approx({"0": 1 - one, "1": one}, abs=1e-6)
    assert '<option value="4" selected>' in chosen
    wrong = api.client.get(reverse("job-detail", args=[job["id"]]), {"circuit": 0, "binding": 9}).content.decode()
    assert "There is no binding 9: this sweep&#x27;s are 0 to 5." in wrong and "the total over 6 bindings" in wrong


def test_parameter_values_by_name_and_per_pub_precision(api_for, run_jobs):
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(2)
    circuit.ry(a, 0)
    circuit.ry(b, 1)
    body = {
        "profile": "local",
        "primitive": "estimator",
        "circuits": [
            {
                "qpy": qpy_text(circuit),
                "parameter_values": {"a": [0.0, 1.0, 2.0], "b": 0.5},  # b broadcasts to (3,)
                "observables": "ZZ",
                "precision": 0.01,
            }
        ],
    }
    (result,) = run(api_for("alice"), run_jobs, body)["results"]
    assert result["shape"] == [3]
    assert result["stds"] == [pytest.approx(0.01)] * 3
    for ev, angle in zip(result["evs"], [0.0, 1.0, 2.0], strict=True):
        assert abs(ev - math.cos(angle) * math.cos(0.5)) <= 4 * 0.01


def test_one_observable_without_values_has_the_empty_shape(api_for, run_jobs):
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    body = {
        "profile": "local",
        "primitive": "estimator",
        "shots": 1000,
        "circuits": [{"qpy": qpy_text(bell), "observables": "ZZ"}],
    }
    (result,) = run(api_for("alice"), run_jobs, body)["results"]
    assert result["shape"] == []
    assert result["evs"] == pytest.approx(1.0, abs=4 / math.sqrt(1000))  # a bare number, as Qiskit's evs


def test_fake_backend_runs_a_sweep_as_one_pub_keeping_its_shape(api_for, run_jobs):
    theta = Parameter("theta")
    circuit = QuantumCircuit(2, 2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    values = [[[0.0], [np.pi]], [[np.pi / 2], [np.pi / 2]]]
    body = {
        "profile": "fake_manila",
        "shots": 1000,
        "circuits": [{"qpy": qpy_text(circuit), "parameter_values": values}],
    }
    (result,) = run(api_for("alice"), run_jobs, body)["results"]
    assert result["shape"] == [2, 2]
    counts = result["binding_counts"]
    # Manila's readout and CX errors move a few percent of the weight (8 points of slack, as in
    # test_api_jobs); theta = 0 gives 00, theta = pi gives 11.
    assert_counts_match(counts[0][0], {"00": 1.0}, 1000, slack=0.08)
    assert_counts_match(counts[0][1], {"11": 1.0}, 1000, slack=0.08)
    assert_counts_match(counts[1][0], {"00": 0.5, "11": 0.5}, 1000, slack=0.08)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"parameter_values": np.zeros((50, 2)).tolist(), "observables": "XXY"},
            "circuit 0: parameter_values has shape (50, 2) but the circuit has 1 parameter",
        ),
        (
            {"parameter_values": np.zeros((3, 1)).tolist(), "observables": ["XXY", "XXX"]},
            "circuit 0: observables of shape (2,) do not broadcast with parameter_values of shape (3,)",
        ),
        ({"parameter_values": [[0.1], [0.2, 0.3]], "observables": "XXY"}, "circuit 0: parameter_values must be"),
        ({"parameter_values": {"phi": [0.1]}, "observables": "XXY"}, "circuit 0: parameter_values: unknown parameter"),
        ({"parameter_values": [[0.1]], "observables": "XX"}, "circuit 0: observable XX acts on 2 qubits"),
        ({"parameter_values": [[0.1]], "observables": "XXX", "shots": 10}, "circuit 0: an estimator PUB takes"),
        ({"parameter_values": [[0.1]], "observables": "XXX", "precision": 0}, "circuit 0: precision must be"),
    ],
)
def test_bad_pubs_are_refused_naming_circuit_and_problem(api_for, entry, message):
    api = api_for("alice")
    body = {"profile": "local", "primitive": "estimator", "circuits": [{"qpy": qpy_text(seed_circuit()), **entry}]}
    before = (Job.objects.count(), JobCircuit.objects.count())
    resp = api.post("/jobs", body)
    assert resp.status_code == 400, resp.content
    assert message in resp.json()["detail"]
    assert (Job.objects.count(), JobCircuit.objects.count()) == before  # nothing half-written


def test_field_given_twice_is_refused(api_for):
    body = {
        "profile": "local",
        "primitive": "estimator",
        "circuits": [{"qpy": qpy_text(seed_circuit()), "observables": "XXY", "parameter_values": [[0.1]]}],
        "parameter_values": [[0.2]],
    }
    resp = api_for("alice").post("/jobs", body)
    assert resp.status_code == 400
    assert "circuit 0: parameter_values is given both in the circuit and at job level" in resp.json()["detail"]


def test_rerun_keeps_the_pub(api_for, run_jobs):
    api = api_for("alice")
    body = {
        "profile": "local",
        "primitive": "estimator",
        "circuits": [{"qpy": qpy_text(seed_circuit()), "parameter_values": THETAS[:4], "observables": ["XXY"]}],
    }
    first = run(api, run_jobs, body)
    again = api.post(f"/jobs/{first['id']}/rerun")
    assert again.status_code == 201, again.content
    run_jobs()
    (result,) = api.job_with_results(again.json()["id"])["results"]
    assert result["shape"] == [4]  # observables (1,) broadcast against values (4,)


def test_a_pennylane_profile_refuses_a_sweep_at_submission(api_for):
    api = api_for("alice")
    assert api.post("/profiles", {"name": "pl", "kind": "pennylane", "backend": "default.qubit"}).status_code == 201
    entry = {"qpy": qpy_text(seed_circuit()), "parameter_values": THETAS[:3], "observables": "XXY"}
    resp = api.post("/jobs", {"profile": "pl", "primitive": "estimator", "circuits": [entry]})
    assert resp.status_code == 400 and "PennyLane device, which takes one flat binding" in resp.json()["detail"]
    assert not Job.objects.exists()


def test_a_job_of_sweeps_is_bounded_as_a_whole(api_for):
    """Each PUB may hold 10,000 bindings, the job's PUBs 100,000 together: refused, nothing stored."""
    entry = {"qpy": qpy_text(seed_circuit()), "parameter_values": np.zeros((10_000, 1)).tolist(), "observables": "XXY"}
    resp = api_for("alice").post("/jobs", {"profile": "local", "primitive": "estimator", "circuits": [entry] * 11})
    assert resp.status_code == 400, resp.content
    assert "circuit 10: the job's PUBs hold over 100000 bindings or values together" in resp.json()["detail"]
    over = {**entry, "parameter_values": np.zeros((10_001, 1)).tolist()}
    resp = api_for("alice").post("/jobs", {"profile": "local", "primitive": "estimator", "circuits": [over]})
    assert resp.status_code == 400 and "10001 bindings; the limit is 10000" in resp.json()["detail"]
    assert not Job.objects.exists()


def test_downloads_and_events_of_a_sweep(api_for, run_jobs):
    api = api_for("alice")
    body = {
        "profile": "local",
        "primitive": "estimator",
        "circuits": [{"qpy": qpy_text(seed_circuit()), "parameter_values": THETAS, "observables": [["XXY"], ["XXX"]]}],
    }
    job = run(api, run_jobs, body)
    data = np.load(io.BytesIO(b"".join(api.get(f"/jobs/{job['id']}/download", format="npz").streaming_content)))
    assert data["c0_evs"].shape == data["c0_stds"].shape == (2, 50)
    np.testing.assert_allclose(data["c0_evs"], job["results"][0]["evs"])


def test_a_sweeps_circuit_event_carries_its_first_values_only():
    swept = CircuitResult(index=0, evs=[0.5] * 100, stds=[0.1] * 100, shape=(2, 50))
    assert stored_results.summary(swept)["evs"] == [0.5] * stored_results.EVENT_VALUES
    assert stored_results.row_values(swept)["evs"] == [0.5] * 100  # all of them are stored
    flat = CircuitResult(index=0, evs=[0.5] * 100, stds=[0.1] * 100)
    assert stored_results.summary(flat)["evs"] == [0.5] * 100  # a flat job's as before


def test_the_submit_page_runs_a_sweep_from_its_parameter_values(client, users, run_jobs):
    """One OpenQASM 3 circuit with an input parameter and a list of values: one PUB, its shape
    kept, each expectation value within 4 standard errors of cos(theta); bad values say why and
    store nothing."""
    qasm = 'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float theta;\nqubit[1] q;\nrx(theta) q[0];\n'
    thetas = [[0.0], [1.0], [2.0], [3.0]]
    client.force_login(users["alice"])
    form = {"profile": "local", "team": str(users["lab"].id), "shots": "4000", "primitive": "estimator"}
    form |= {"observables": "Z", "name": "rx sweep", "tags": "", "options": "", "qasm": [qasm]}
    broken = client.post(reverse("job-submit"), {**form, "parameter_values": "[[0.0], [1.0"})
    assert broken.status_code == 400 and "parameter values are not valid JSON" in broken.content.decode()
    wrong = client.post(reverse("job-submit"), {**form, "parameter_values": "[[0.0, 1.0]]"})
    assert wrong.status_code == 400 and "the last axis must be 1" in wrong.content.decode()
    assert not Job.objects.exists()
    good = client.post(reverse("job-submit"), {**form, "parameter_values": json.dumps(thetas)})
    assert good.status_code == 302, good.content.decode()[:2000]
    job = Job.objects.get()
    run_jobs()
    (circuit,) = JobCircuit.objects.filter(job=job)
    assert circuit.shape == [4] and circuit.parameter_values == thetas
    for (theta,), ev, std in zip(thetas, circuit.evs, circuit.stds, strict=True):
        assert abs(ev - math.cos(theta)) <= 4 * max(std, 1 / math.sqrt(4000)), (theta, ev, std)
    again = client.get(reverse("job-submit"), {"from": job.id}).content.decode()
    assert re.search(r'<textarea name="parameter_values"[^>]*>\[\[0.0\], \[1.0\], \[2.0\], \[3.0\]\]</textarea>', again)
