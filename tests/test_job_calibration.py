"""Every job keeps the calibration it was transpiled against, deduplicated, and its provenance."""

from __future__ import annotations

import pytest
import qiskit
from django.test import Client

from executors import ibm_cloud
from executors.device import calibration_digest, calibration_of
from executors.fake_backend import fake_backend
from qportal.jobs.models import Calibration, Job
from tests.circuits import BELL, GHZ3
from tests.ibm_standin.calibration import recalibrate
from tests.test_cloud_jobs import cloud_setup, executors  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def submit(api, profile: str, qasm: str = BELL, shots: int = 200) -> str:
    resp = api.post("/jobs", {"profile": profile, "circuits": [{"qasm": qasm}], "shots": shots})
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def test_fake_jobs_share_one_calibration_equal_to_the_backends(api_for, users, run_jobs):
    api = api_for("alice")
    first, second = submit(api, "fake_manila"), submit(api, "fake_manila", GHZ3)
    run_jobs()
    jobs = [Job.objects.get(id=job_id) for job_id in (first, second)]
    assert all(job.status == "done" for job in jobs)
    assert jobs[0].calibration_id == jobs[1].calibration_id is not None
    assert Calibration.objects.count() == 1
    backend = fake_backend("fake_manila")
    stored = jobs[0].calibration
    assert stored.data == calibration_of(backend) and stored.digest == calibration_digest(stored.data)
    props = backend.properties()
    assert [q["t1"] for q in stored.data["qubits"]] == [props.t1(q) for q in range(5)]
    assert stored.calibrated_at == props.last_update_date

    export = api.get(f"/jobs/{second}/provenance").json()
    assert export["calibration"]["data"] == stored.data and export["calibration"]["digest"] == stored.digest
    [circuit] = export["circuits"]
    assert circuit["source"] == GHZ3 and circuit["source_format"] == "qasm2"
    assert len(circuit["physical_qubits"]) == 3 and len(set(circuit["physical_qubits"])) == 3
    isa = circuit["isa"]
    assert isa["two_qubit_gates"] == isa["operations"]["cx"] >= 2 and isa["depth"] >= 4
    assert "cx" in isa["diagram"] or "■" in isa["diagram"]
    assert export["versions"]["qiskit"] == qiskit.__version__ and export["versions_recorded"]
    assert export["run"]["options_sent"]["default_shots"] == 200
    timing = export["timings"]
    assert timing["queued"] >= 0 and timing["total"] >= timing["running"] >= 0
    assert api_for("charlie").get(f"/jobs/{second}/provenance").status_code == 404

    client = Client()
    client.force_login(users["alice"])
    page = client.get(f"/jobs/{second}/").content.decode()
    assert f'data-digest="{stored.digest}"' in page and 'id="provenance-download"' in page
    assert 'href="/backends/fake_manila/?profile=fake_manila" id="backend-now"' in page
    used = [int(q) for q in circuit["physical_qubits"]]
    ringed = sorted(
        int(q) for q in __import__("re").findall(r'data-qubit="(\d+)" data-value="[^"]*" data-used="1"', page)
    )
    assert ringed == sorted(used)
    download = client.get(f"/jobs/{second}/provenance.json")
    assert download["Content-Disposition"].startswith("attachment") and download.json()["circuits"][0]["source"] == GHZ3


def test_cloud_jobs_keep_their_calibration_after_the_device_changes(
    api_for,
    users,
    standin,
    executors,  # noqa: F811 - the fixture imported above
    run_jobs,
    monkeypatch,
):
    monkeypatch.setattr(ibm_cloud, "BACKEND_TTL", 0.0)  # refresh the backend before every job
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    before = submit(api, "cloud")
    run_jobs()
    recalibrate(standin, "ibm_manila", scale=0.5)
    after, again = submit(api, "cloud"), submit(api, "cloud", GHZ3)
    run_jobs()
    jobs = {
        name: Job.objects.get(id=job_id) for name, job_id in (("before", before), ("after", after), ("again", again))
    }
    assert all(job.status == "done" for job in jobs.values()), [job.error for job in jobs.values()]
    assert Calibration.objects.count() == 2
    assert jobs["after"].calibration_id == jobs["again"].calibration_id != jobs["before"].calibration_id
    original = standin._fake("ibm_manila").properties()
    old = api.get(f"/jobs/{before}/provenance").json()["calibration"]["data"]
    new = api.get(f"/jobs/{after}/provenance").json()["calibration"]["data"]
    for q in range(5):
        assert old["qubits"][q]["t1"] == pytest.approx(original.t1(q), rel=1e-12)
        assert new["qubits"][q]["t1"] == pytest.approx(original.t1(q) * 0.5, rel=1e-12)
        assert new["qubits"][q]["readout_error"] == pytest.approx(original.readout_error(q) * 0.5, rel=1e-12)
    assert old["calibrated_at"] != new["calibrated_at"]
    export = api.get(f"/jobs/{again}/provenance").json()
    assert export["circuits"][0]["isa"]["two_qubit_gates"] >= 2
    assert len(export["circuits"][0]["physical_qubits"]) == 3

    # the device is retired: IBM no longer lists it, and its jobs still show what they ran on
    del standin._fakes["ibm_manila"]
    client = Client()
    client.force_login(users["alice"])
    page = client.get(f"/jobs/{before}/").content.decode()
    assert f'data-digest="{jobs["before"].calibration.digest}"' in page
    assert api.get(f"/jobs/{before}/provenance").json()["calibration"]["data"] == old
