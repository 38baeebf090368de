"""Profiles whose backend is "auto": each job runs where ``executors.backend_choice`` says, the same
way every time, and the job says which backend and why (an event, its API field and its page)."""

from __future__ import annotations

import copy

import pytest
from django.test import Client
from qiskit.transpiler import InstructionProperties
from qiskit_ibm_runtime.models import BackendStatus

import executors.auto
import executors.fake_backend
from executors.backend_choice import estimated_success
from executors.device import calibration_of
from executors.fake_backend import fake_backend
from executors.runtime import transpile_to_isa
from qportal.jobs.models import Job
from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL, GHZ3, bell, ghz

pytestmark = pytest.mark.django_db

CANDIDATES = ["fake_belem", "fake_lima", "fake_manila", "fake_quito"]


def make_profile(api, team, name: str, options: dict) -> None:
    resp = api.post("/profiles", {"name": name, "kind": "fake", "backend": "auto", "options": options, "team": team.id})
    assert resp.status_code == 201, resp.content


def submit(api, profile: str, qasm: str) -> str:
    resp = api.post("/jobs", {"profile": profile, "circuits": [{"qasm": qasm}], "shots": 3000})
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def test_least_noisy_picks_the_best_estimate_every_time_and_says_why(api_for, users, run_jobs):
    api = api_for("alice")
    make_profile(
        api, users["lab"], "auto-quiet", {"auto_criterion": "least_noisy", "auto_backends": CANDIDATES, "seed": 11}
    )
    first, second, ghz_job = (
        submit(api, "auto-quiet", BELL),
        submit(api, "auto-quiet", BELL),
        submit(api, "auto-quiet", GHZ3),
    )
    run_jobs()
    for job_id, circuit in ((first, bell()), (second, bell()), (ghz_job, ghz(3))):
        scores = {}
        for name in CANDIDATES:  # the estimate made here, independently of the portal
            backend = fake_backend(name)
            (isa,) = transpile_to_isa([circuit], backend, 2, 11)
            scores[name] = estimated_success(isa, backend.target)
        best = max(sorted(scores), key=lambda name: scores[name])
        job = api.get(f"/jobs/{job_id}").json()
        assert job["status"] == "done", job
        choice = job["backend_choice"]
        assert choice["backend"] == best and choice["criterion"] == "least_noisy"
        assert f"least noisy: {best}" in choice["reason"] and f"{scores[best]:.4f}" in choice["reason"]
        [event] = [e for e in job["events"] if e["kind"] == "backend"]
        assert event["data"]["backend"] == best and best in event["message"]
        stored = Job.objects.get(id=job_id)
        assert stored.calibration.data == calibration_of(fake_backend(best))
        counts = api.results(job_id)[0]["counts"]
        ends = "0" * circuit.num_qubits, "1" * circuit.num_qubits
        assert sum(counts.values()) == 3000 and counts[ends[0]] + counts[ends[1]] > 0.8 * 3000
    assert api.get(f"/jobs/{first}").json()["backend_choice"] == api.get(f"/jobs/{second}").json()["backend_choice"]
    client = Client()
    client.force_login(users["bob"])
    page = client.get(f"/jobs/{first}/").content.decode()
    assert 'id="backend-choice"' in page and choice["backend"] in page


def renamed(name: str, *, error: float, pending: int) -> object:
    """fake_manila under another name, every instruction's error set to ``error``, ``pending`` queued."""
    backend = copy.deepcopy(fake_backend("fake_manila"))
    backend.name = name
    for op in backend.target.operation_names:
        for qargs, props in (backend.target[op] or {}).items():
            if props is not None and qargs is not None:
                backend.target.update_instruction_properties(
                    op, qargs, InstructionProperties(duration=props.duration, error=error)
                )
    status = BackendStatus(name, "1", True, pending, "active")
    backend.status = lambda: status
    return backend


@pytest.fixture
def patched_fakes(monkeypatch):
    """Two manila copies with different noise and queues: "a_noisy" (error 5%, 1 job queued) and
    "z_clean" (error 0.1%, 4 queued), so neither choice is the first name's."""
    made = {"a_noisy": renamed("a_noisy", error=0.05, pending=1), "z_clean": renamed("z_clean", error=0.001, pending=4)}
    real = executors.fake_backend.fake_backend

    def lookup(name):
        return made[name] if name in made else real(name)

    monkeypatch.setattr(executors.fake_backend, "fake_backend", lookup)
    monkeypatch.setattr(executors.auto, "fake_backend", lookup)
    return made


@pytest.mark.parametrize(
    ("criterion", "expected", "why"),
    [
        ("least_noisy", "z_clean", "highest estimated success"),
        ("least_busy", "a_noisy", "a_noisy has 1 pending job(s) (then z_clean 4)"),
    ],
)
def test_patched_noise_and_queues_decide(patched_fakes, criterion, expected, why):
    from executors.auto import AutoFakeExecutor
    from executors.base import ExecutionRequest, ExecutorSpec

    spec = ExecutorSpec(
        kind="fake",
        backend="auto",
        options={"auto_criterion": criterion, "auto_backends": ["a_noisy", "z_clean"], "seed": 3},
    )
    executor = AutoFakeExecutor(spec)
    choices = [executor.choose(ExecutionRequest(circuits=[bell()])) for _ in range(3)]
    assert {c.backend for c in choices} == {expected} and why in choices[0].reason
    assert [c["name"] for c in choices[0].candidates][0] == expected
    if criterion == "least_noisy":
        scores = {c["name"]: c["estimated_success"] for c in choices[0].candidates}
        assert scores["z_clean"] > 0.99 > 0.8 > scores["a_noisy"]


def test_bad_auto_options_are_refused_when_saved(api_for, users):
    api = api_for("alice")
    for options, word in (
        ({"auto_criterion": "fastest"}, "auto_criterion"),
        ({"auto_backends": []}, "auto_backends"),
        ({"auto_backends": ["fake_nowhere"]}, "fake_nowhere"),
    ):
        resp = api.post(
            "/profiles", {"name": "bad", "kind": "fake", "backend": "auto", "options": options, "team": users["lab"].id}
        )
        assert resp.status_code == 400 and word in resp.json()["detail"], (options, resp.content)


@pytest.mark.parametrize(("criterion", "expected"), [("least_busy", "ibm_lima"), ("least_noisy", "ibm_quito")])
def test_cloud_auto_chooses_among_the_instances_backends(api_for, users, standin, run_jobs, criterion, expected):
    from tests.ibm_standin.calibration import recalibrate
    from tests.test_cloud_jobs import cloud_setup

    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    ExecutorProfile.objects.filter(name="cloud").update(
        backend="auto", options={"auto_criterion": criterion, "seed": 2}
    )
    standin.queue_lengths.update({"ibm_manila": 5, "ibm_lima": 2, "ibm_quito": 9})
    recalibrate(standin, "ibm_quito", scale=0.1)  # a tenth of every error: the quietest by far
    job_id = submit(api, "cloud", BELL)
    run_jobs()
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "done", job
    assert job["backend_choice"]["backend"] == expected and job["backend_choice"]["criterion"] == criterion
    [remote] = standin.jobs.values()
    assert remote.backend == expected
    if criterion == "least_busy":
        assert "ibm_lima has 2 pending job(s) (then ibm_manila 5, ibm_quito 9)" in job["backend_choice"]["reason"]
    assert Job.objects.get(id=job_id).calibration.backend == expected
