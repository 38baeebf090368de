"""Compare: ideal simulator, noisy twin (exact) and device side by side, on Bell and GHZ circuits.

The fidelity between the ideal and fake_manila runs is qiskit's ``hellinger_fidelity`` of the two
count sets, and lies within its stated uncertainty of the fidelity between the exact ideal
distribution and the noise model's exact distribution of the circuit that ran."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from qiskit.quantum_info import hellinger_fidelity

from executors.compare import noisy_probabilities, twin_noise_model
from executors.fake_backend import fake_backend
from executors.provenance import isa_circuit
from qportal.jobs.models import Job
from tests.circuits import BELL, GHZ3
from tests.stats import Z, exact_probabilities

pytestmark = pytest.mark.django_db
SHOTS = 8000


def pair(circuit: dict, a: str, b: str) -> dict:
    [found] = [p for p in circuit["pairs"] if {p["a"], p["b"]} == {a, b}]
    return found


def test_ideal_twin_and_device_side_by_side(api_for, users, run_jobs):
    api = api_for("alice")
    started = api.post(
        "/compare", {"profile": "fake_manila", "circuits": [{"qasm": BELL}, {"qasm": GHZ3}], "shots": SHOTS}
    )
    assert started.status_code == 201, started.content
    ideal_id, device_id = started.json()["jobs"]
    assert Job.objects.get(id=ideal_id).profile.name == "local" and Job.objects.get(id=device_id).shots == SHOTS
    pending = api.get("/compare", jobs=f"{ideal_id},{device_id}").json()
    assert pending["done"] is False
    run_jobs()
    result = api.get(started.json()["compare"].removeprefix("/api/v1")).json()
    assert result["done"] and result["twin"] == "fake_manila"
    assert set(result["jobs"]) == {"ideal", "fake_manila"}
    device = Job.objects.get(id=device_id)
    model = twin_noise_model(fake_backend("fake_manila"))
    for circuit, qasm in zip(result["circuits"], (BELL, GHZ3), strict=True):
        dists = circuit["distributions"]
        assert circuit["shots"] == {"exact": None, "twin": None, "ideal": SHOTS, "fake_manila": SHOTS}
        assert dists["exact"] == pytest.approx(exact_probabilities(qasm))
        # the twin is the exact distribution of the very circuit that ran, under the device's noise
        ran = device.circuits.get(index=circuit["index"]).metadata
        assert dists["twin"] == pytest.approx(noisy_probabilities(isa_circuit(ran["isa"]), model), abs=1e-12)
        runs = pair(circuit, "ideal", "fake_manila")
        assert runs["fidelity"] == pytest.approx(hellinger_fidelity(dists["ideal"], dists["fake_manila"]), abs=1e-12)
        reference = pair(circuit, "exact", "twin")
        assert reference["fidelity_std"] == 0 and 0.8 < reference["fidelity"] < 0.99
        assert abs(runs["fidelity"] - reference["fidelity"]) < Z * runs["fidelity_std"]
        assert runs["fidelity_std"] > 0 and runs["tvd_std"] > 0
        # and the device run against its exact twin, one sampled side: consistent too
        device_vs_twin = pair(circuit, "twin", "fake_manila")
        assert device_vs_twin["fidelity"] > 1 - Z * device_vs_twin["fidelity_std"] - 3 / SHOTS

    client = Client()
    client.force_login(users["alice"])
    page = client.get(started.json()["page"]).content.decode()
    assert page.count('class="compare-hist"') == 2
    bars = re.findall(r'data-run="([\w-]+)" data-outcome="(\d+)" data-p="([\d.e-]+)"', page)
    ideal_bell = {o: float(p) for run, o, p in bars[:16] if run == "ideal"}
    assert ideal_bell["00"] == pytest.approx(result["circuits"][0]["distributions"]["ideal"]["00"] / SHOTS, abs=1e-4)
    assert "± " in page and 'data-a="ideal" data-b="fake_manila"' in page
    assert api_for("bob").get("/compare", jobs=f"{ideal_id},{device_id}").status_code == 404  # alice's own team


def test_compare_an_existing_job_and_bad_requests(api_for, users, run_jobs):
    api = api_for("alice")
    job = api.post("/jobs", {"profile": "fake_manila", "circuits": [{"qasm": BELL}], "shots": 2000}).json()["id"]
    other = api.post("/jobs", {"profile": "fake_manila", "circuits": [{"qasm": GHZ3}], "shots": 2000}).json()["id"]
    added = api.post(f"/jobs/{job}/compare")
    assert added.status_code == 201 and added.json()["jobs"][1] == job
    run_jobs()
    result = api.get("/compare", jobs=",".join(added.json()["jobs"])).json()
    assert result["done"] and len(result["circuits"]) == 1
    different = api.get("/compare", jobs=f"{job},{other}")
    assert different.status_code == 400 and "same circuits" in different.json()["detail"]
    assert api.get("/compare", jobs="").status_code == 400
    local = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()["id"]
    refused = api.post(f"/jobs/{local}/compare")
    assert refused.status_code == 400 and "device profile" in refused.json()["detail"]
    before = Job.objects.count()
    bad = api.post("/compare", {"profile": "fake_manila", "circuits": [{"qasm": "OPENQASM 2.0; nonsense"}]})
    assert bad.status_code == 400 and Job.objects.count() == before
    client = Client()
    client.force_login(users["alice"])
    answer = client.post(f"/jobs/{other}/compare/")
    assert answer.status_code == 302 and answer["Location"].endswith(f",{other}")


def test_a_cloud_device_is_compared_with_its_fake_twin(api_for, users, standin, run_jobs):
    from tests.test_cloud_jobs import cloud_setup

    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    started = api.post(
        "/compare", {"profile": "cloud", "circuits": [{"qasm": BELL}], "shots": 4000, "team": users["lab"].id}
    )
    assert started.status_code == 201, started.content
    run_jobs()
    result = api.get("/compare", jobs=",".join(started.json()["jobs"])).json()
    assert result["done"] and result["twin"] == "fake_manila" and set(result["jobs"]) == {"ideal", "cloud"}
    [circuit] = result["circuits"]
    assert set(circuit["distributions"]) == {"exact", "twin", "ideal", "cloud"}
    # the stand-in runs noiselessly by default: the device agrees with the ideal run, not the twin
    both = pair(circuit, "ideal", "cloud")
    assert both["fidelity"] > 1 - Z * both["fidelity_std"] - 3 / 4000
    noisy = pair(circuit, "twin", "cloud")
    assert noisy["fidelity"] < 1 - Z * noisy["fidelity_std"]


def test_without_a_fake_twin_the_jobs_own_calibration_makes_the_noise_model(api_for, users, run_jobs, monkeypatch):
    from qiskit_aer.noise import NoiseModel
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from qportal.profiles.models import ExecutorProfile
    from tests.ibm_standin.server import StandIn
    from tests.test_cloud_jobs import cloud_setup

    with StandIn(backends={"ibm_elsewhere": FakeManilaV2}) as server:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        api = api_for("alice")
        cloud_setup(api, users["lab"], server)
        ExecutorProfile.objects.filter(name="cloud").update(backend="ibm_elsewhere")
        body = {"profile": "cloud", "circuits": [{"qasm": GHZ3}], "shots": 2000, "team": users["lab"].id}
        started = api.post("/compare", body).json()
        run_jobs()
        result = api.get("/compare", jobs=",".join(started["jobs"])).json()
    assert result["done"] and result["twin"] == "ibm_elsewhere"
    assert result["twin_source"].startswith("the noise model of its calibration of ")
    device = Job.objects.get(id=started["jobs"][1])
    isa = isa_circuit(device.circuits.get(index=0).metadata["isa"])
    expected = noisy_probabilities(isa, NoiseModel.from_backend(FakeManilaV2()))  # the calibration it served
    twin = result["circuits"][0]["distributions"]["twin"]
    assert set(twin) == set(expected) and all(twin[k] == pytest.approx(v, abs=1e-9) for k, v in expected.items())
