"""The profile option ``simulate_first``: the job runs on the device's noisy twin before the device,
and the job shows the fidelity the twin predicts."""

from __future__ import annotations

import pytest
from django.test import Client
from qiskit.quantum_info import hellinger_fidelity
from qiskit_aer.noise import NoiseModel

from executors.compare import noisy_probabilities, twin_noise_model
from executors.fake_backend import fake_backend
from executors.runtime import transpile_to_isa
from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL, GHZ3, bell, ghz
from tests.stats import exact_probabilities
from tests.test_cloud_jobs import cloud_setup, executors  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def predicted(circuit, backend, model, seed) -> float:
    (isa,) = transpile_to_isa([circuit], backend, 2, seed)
    return hellinger_fidelity(exact_probabilities(circuit), noisy_probabilities(isa, model))


def test_fake_device_is_simulated_first_and_shows_its_prediction(api_for, users, run_jobs):
    api = api_for("alice")
    ExecutorProfile.objects.create(
        team=users["lab"],
        name="careful",
        kind="fake",
        backend="fake_manila",
        options={"simulate_first": True, "seed": 5},
    )
    job_id = api.post(
        "/jobs", {"profile": "careful", "circuits": [{"qasm": BELL}, {"qasm": GHZ3}], "shots": 500}
    ).json()["id"]
    run_jobs()
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "done", job
    backend = fake_backend("fake_manila")
    model = twin_noise_model(backend)
    expected = [predicted(bell(), backend, model, 5), predicted(ghz(3), backend, model, 5)]
    export = api.get(f"/jobs/{job_id}/provenance").json()
    prediction = export["simulate_first"]
    assert prediction["per_circuit"] == pytest.approx(expected, abs=1e-12)
    assert prediction["predicted_fidelity"] == pytest.approx(sum(expected) / 2, abs=1e-12)
    assert 0.8 < prediction["predicted_fidelity"] < 0.99 and prediction["backend"] == "fake_manila"
    kinds = [e["kind"] for e in job["events"]]
    assert kinds.index("simulated") < kinds.index("done")
    client = Client()
    client.force_login(users["bob"])
    page = client.get(f"/jobs/{job_id}/").content.decode()
    assert 'id="simulate-first"' in page and f"{prediction['predicted_fidelity']:.4f}" in page


def test_cloud_job_is_predicted_from_the_current_calibration_before_it_is_sent(
    api_for,
    users,
    standin,
    executors,  # noqa: F811 - the fixture imported above
    run_jobs,
):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    ExecutorProfile.objects.filter(name="cloud").update(options={"simulate_first": True, "seed": 9})
    job_id = api.post("/jobs", {"profile": "cloud", "circuits": [{"qasm": BELL}], "shots": 500}).json()["id"]
    run_jobs()
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "done", job
    kinds = [e["kind"] for e in job["events"]]
    assert kinds.index("simulated") < kinds.index("running")  # before the job went to IBM
    prediction = api.get(f"/jobs/{job_id}/provenance").json()["simulate_first"]
    fake = standin._fake("ibm_manila")  # what the stand-in serves as ibm_manila's calibration
    expected = predicted(bell(), fake, NoiseModel.from_backend(fake), 9)
    assert prediction["backend"] == "ibm_manila"
    assert prediction["predicted_fidelity"] == pytest.approx(expected, abs=1e-6)
