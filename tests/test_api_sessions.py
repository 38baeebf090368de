"""Portal sessions and batches through the REST API, on local and fake profiles (offline):
create, list, detail with jobs, close, cancel, expiry, and every refusal with nothing written."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from qportal.jobs import session_worker, sessions
from qportal.jobs.models import Job, JobStatus, RuntimeSession
from qportal.jobs.worker import JobRunner
from tests.circuits import BELL
from tests.stats import assert_counts_match, exact_probabilities

ESTIMATOR_QASM = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
ry(0.7) q[0];
cx q[0],q[1];
"""


def open_session(api, **body) -> dict:
    resp = api.post("/sessions", {"profile": "local", **body})
    assert resp.status_code == 201, resp.content
    return resp.json()


def submit(api, session_id, **body):
    return api.post("/jobs", {"session": session_id, "circuits": [{"qasm": BELL}], "shots": 2000, **body})


def test_create_list_and_detail(api_for, users):
    api = api_for("alice")
    created = open_session(api, mode="batch", max_time=600, name="sweep")
    assert created["status"] == "open" and created["mode"] == "batch" and created["max_time"] == 600
    assert created["profile"] == "local" and created["ibm_session_id"] == "" and created["closing_at"] is None
    assert created["created_by"] == "alice" and created["idle_timeout"] == sessions.DEFAULT_IDLE_TIMEOUT
    listed = api.get("/sessions").json()
    assert [s["id"] for s in listed] == [created["id"]]
    detail = api.get(f"/sessions/{created['id']}").json()
    assert detail["jobs"] == [] and detail["name"] == "sweep"


def test_jobs_of_a_session_run_on_its_profile_and_are_listed_in_order(api_for, users, run_jobs):
    api = api_for("alice")
    session = open_session(api, profile="fake_manila")
    ids = []
    for _ in range(3):
        resp = submit(api, session["id"])
        assert resp.status_code == 201, resp.content
        assert resp.json()["session"] == session["id"] and resp.json()["profile"] == "fake_manila"
        ids.append(resp.json()["id"])
    run_jobs()
    detail = api.get(f"/sessions/{session['id']}").json()
    assert detail["status"] == "active"
    assert [job["id"] for job in detail["jobs"]] == ids
    assert all(job["status"] == "done" for job in detail["jobs"])
    for job_id in ids:
        (result,) = api.results(job_id)
        assert sum(result["counts"].values()) == 2000
        # fake_manila's noise: see tests/test_api_jobs.py for the slack
        assert_counts_match(result["counts"], exact_probabilities(BELL), slack=0.08)


def test_a_session_keeps_one_executor_for_its_jobs(api_for, users, monkeypatch):
    from qportal.jobs import worker

    built = []
    real = worker.build_executor
    monkeypatch.setattr(worker, "build_executor", lambda spec: built.append(spec) or real(spec))
    api = api_for("alice")
    session = open_session(api, profile="fake_manila")
    runner = JobRunner(worker_id="w")
    for _ in range(3):
        assert submit(api, session["id"]).status_code == 201
        async_to_sync(runner.run_until_idle)(120)
    assert len(built) == 1
    assert runner.forget_session(session["id"]) is not None


def test_fake_backend_jobs_build_the_noise_model_once(api_for, users, monkeypatch, run_jobs):
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    from executors.fake_backend import fake_backend

    fake_backend("fake_lima").sim = None  # as in a fresh process
    builds = []
    real = FakeBackendV2._get_noise_model_from_backend_v2
    monkeypatch.setattr(
        FakeBackendV2, "_get_noise_model_from_backend_v2", lambda self, *a, **k: builds.append(1) or real(self, *a, **k)
    )
    api = api_for("alice")
    resp = api.post("/profiles", {"name": "lima", "kind": "fake", "backend": "fake_lima", "team": users["lab"].id})
    assert resp.status_code == 201, resp.content
    session = open_session(api, profile="lima")
    for _ in range(3):
        assert submit(api, session["id"]).status_code == 201
        run_jobs()
    assert len(builds) == 1
    for job in api.get(f"/sessions/{session['id']}").json()["jobs"]:
        (result,) = api.results(job["id"])
        assert_counts_match(result["counts"], exact_probabilities(BELL), slack=0.08)  # lima's noise, as manila's


def test_estimator_job_in_a_session(api_for, users, run_jobs):
    api = api_for("alice")
    session = open_session(api)
    resp = submit(api, session["id"], primitive="estimator", circuits=[{"qasm": ESTIMATOR_QASM}], observables=[["ZZ"]])
    assert resp.status_code == 201, resp.content
    run_jobs()
    (result,) = api.results(resp.json()["id"])
    # ry then cx: ZZ is exactly 1; Aer's estimator adds Gaussian noise of the precision, 1/sqrt(shots)
    assert result["evs"][0] == pytest.approx(1.0, abs=4 * result["stds"][0])
    assert result["stds"][0] == pytest.approx(1 / math.sqrt(result["shots"] or 1024), rel=0.01)


def test_close_refuses_new_jobs_and_lets_queued_ones_finish(api_for, users, run_jobs):
    api = api_for("alice")
    session = open_session(api)
    queued = submit(api, session["id"]).json()["id"]
    closed = api.post(f"/sessions/{session['id']}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed" and closed.json()["closing_at"]
    assert api.post(f"/sessions/{session['id']}/close").json()["status"] == "closed"  # idempotent
    before = Job.objects.count()
    refused = submit(api, session["id"])
    assert refused.status_code == 409 and "closed" in refused.json()["detail"]
    assert Job.objects.count() == before
    run_jobs()
    assert Job.objects.get(id=queued).status == JobStatus.DONE
    runner = JobRunner(worker_id="w")
    assert async_to_sync(session_worker.sweep)(runner) == [RuntimeSession.objects.get().id]
    assert api.get(f"/sessions/{session['id']}").json()["closed_at"] is not None


def test_cancel_cancels_its_queued_jobs(api_for, users):
    api = api_for("alice")
    session = open_session(api)
    ids = [submit(api, session["id"]).json()["id"] for _ in range(2)]
    other = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()["id"]
    resp = api.post(f"/sessions/{session['id']}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert {Job.objects.get(id=i).status for i in ids} == {JobStatus.CANCELLED}
    assert Job.objects.get(id=other).status == JobStatus.QUEUED
    assert submit(api, session["id"]).status_code == 409
    assert api.post(f"/sessions/{session['id']}/cancel").status_code == 200  # idempotent
    assert api.post(f"/sessions/{session['id']}/close").status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"mode": "dedicated"}, 422, "mode"),
        ({"max_time": 0}, 400, "max_time"),
        ({"max_time": 10**6}, 400, "max_time"),
        ({"idle_timeout": -5}, 400, "idle_timeout"),
        ({"profile": "nope"}, 404, "profile"),
    ],
)
def test_bad_sessions_are_refused_and_nothing_is_written(api_for, users, body, status, words):
    resp = api_for("alice").post("/sessions", {"profile": "local", **body})
    assert resp.status_code == status, resp.content
    assert words in str(resp.json())
    assert not RuntimeSession.objects.exists()


def test_a_cluster_profile_cannot_hold_a_session(api_for, users):
    api = api_for("alice")
    resp = api.post(
        "/profiles", {"name": "pair", "kind": "cluster", "members": ["local", "fake_manila"], "team": users["lab"].id}
    )
    assert resp.status_code == 201, resp.content
    resp = api.post("/sessions", {"profile": "pair"})
    assert resp.status_code == 400 and "local, fake or IBM cloud" in resp.json()["detail"]
    assert not RuntimeSession.objects.exists()


def test_a_job_on_another_profile_is_refused_and_the_profile_defaults_to_the_sessions(api_for, users):
    api = api_for("alice")
    session = open_session(api)
    resp = submit(api, session["id"], profile="fake_manila")
    assert resp.status_code == 400 and "differs from the session's profile 'local'" in resp.json()["detail"]
    assert submit(api, session["id"], profile="local").status_code == 201
    assert Job.objects.count() == 1
    resp = api.post("/jobs", {"circuits": [{"qasm": BELL}]})
    assert resp.status_code == 400 and "profile" in resp.json()["detail"]


def test_another_teams_session_is_not_found(api_for, users):
    alice = api_for("alice")
    session = open_session(alice, team=users["lab"].id)
    charlie = api_for("charlie")
    assert charlie.get(f"/sessions/{session['id']}").status_code == 404
    assert charlie.get("/sessions").json() == []
    resp = submit(charlie, session["id"])
    assert resp.status_code == 404 and "session not found" in resp.json()["detail"]
    for action in ("close", "cancel"):
        assert charlie.post(f"/sessions/{session['id']}/{action}").status_code == 404
    # a viewer sees it but cannot use or close it; a member can
    viola = api_for("viola")
    assert viola.get(f"/sessions/{session['id']}").status_code == 200
    assert submit(viola, session["id"]).status_code == 403
    assert viola.post(f"/sessions/{session['id']}/close").status_code == 403
    assert submit(api_for("bob"), session["id"]).status_code == 201
    assert Job.objects.count() == 1
    assert RuntimeSession.objects.get().status == "active"


def test_max_time_and_idle_timeout_expire_sessions(api_for, users, run_jobs):
    api = api_for("alice")
    timed = open_session(api, max_time=60)
    idle = open_session(api, idle_timeout=30)
    busy = open_session(api, idle_timeout=30)
    fresh = open_session(api)
    submit(api, busy["id"])  # unfinished: not idle, however old its last activity
    RuntimeSession.objects.filter(id=timed["id"]).update(created=timezone.now() - timedelta(seconds=61))
    RuntimeSession.objects.filter(id__in=[idle["id"], busy["id"]]).update(
        last_activity=timezone.now() - timedelta(seconds=31)
    )
    assert set(sessions.expire_due()) == {RuntimeSession.objects.get(id=i).id for i in (timed["id"], idle["id"])}
    statuses = {s["id"]: s["status"] for s in api.get("/sessions").json()}
    assert statuses == {timed["id"]: "expired", idle["id"]: "expired", busy["id"]: "active", fresh["id"]: "open"}
    resp = submit(api, timed["id"])
    assert resp.status_code == 409 and "expired" in resp.json()["detail"]
    run_jobs()
    # finished just now: its last job's finish counts as activity, so it is not idle yet
    assert sessions.expire_due() == []


def test_admission_is_checked_again_inside_the_jobs_transaction(api_for, users, monkeypatch):
    """A close that lands between the checks and the insert still refuses the job."""
    api = api_for("alice")
    session = open_session(api)
    real = sessions.session_for_job

    def then_closed(*args, **kwargs):
        found = real(*args, **kwargs)
        RuntimeSession.objects.filter(id=found.id).update(status="closed")
        return found

    monkeypatch.setattr(sessions, "session_for_job", then_closed)
    resp = submit(api, session["id"])
    assert resp.status_code == 409 and "closed" in resp.json()["detail"]
    assert not Job.objects.exists()


def test_a_profile_whose_sessions_hold_no_job_can_be_deleted(api_for, users):
    api = api_for("alice")
    resp = api.post("/profiles", {"name": "scratch", "kind": "local", "team": users["lab"].id})
    assert resp.status_code == 201, resp.content
    profile_id = resp.json()["id"]
    open_session(api, profile="scratch")
    used = open_session(api, profile="scratch")
    submit(api, used["id"])
    resp = api.delete(f"/profiles/{profile_id}")
    assert resp.status_code == 409 and "1 job uses" in resp.json()["detail"]
    Job.objects.all().delete()
    assert api.delete(f"/profiles/{profile_id}").status_code == 204
    assert not RuntimeSession.objects.exists()


def test_a_worker_forgets_the_executor_of_a_session_another_worker_ended(api_for, users):
    api = api_for("alice")
    session = open_session(api)
    submit(api, session["id"])
    mine, other = JobRunner(worker_id="w1"), JobRunner(worker_id="w2")
    async_to_sync(mine.run_until_idle)(60)
    assert mine.kept_sessions() == [session["id"]]
    api.post(f"/sessions/{session['id']}/close")
    assert async_to_sync(session_worker.sweep)(other) == [RuntimeSession.objects.get().id]
    assert mine.kept_sessions() == [session["id"]]
    assert async_to_sync(session_worker.sweep)(mine) == []
    assert mine.kept_sessions() == []


def test_the_list_filters_by_status_and_refuses_an_unknown_one(api_for, users):
    api = api_for("alice")
    kept = open_session(api)
    closed = open_session(api)
    api.post(f"/sessions/{closed['id']}/close")
    assert [s["id"] for s in api.get("/sessions", status="open").json()] == [kept["id"]]
    assert [s["id"] for s in api.get("/sessions", status="closed").json()] == [closed["id"]]
    resp = api.get("/sessions", status="shut")
    assert resp.status_code == 422 and "status" in str(resp.json())


def test_the_job_list_filters_by_session(api_for, users, client):
    api = api_for("alice")
    session = open_session(api)
    inside = submit(api, session["id"]).json()["id"]
    api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]})
    listed = api.get("/jobs", session=session["id"]).json()
    assert [job["id"] for job in listed["items"]] == [inside] and listed["count"] == 1
    assert api.get("/jobs").json()["count"] == 2
    assert api.get("/jobs", session="not-a-uuid").status_code == 422
    client.force_login(users["alice"])
    page = client.get("/", {"session": session["id"]}).content.decode()
    assert page.count('<tr data-job="') == 1 and f'<tr data-job="{inside}"' in page
    assert f'<input type="hidden" name="session" value="{session["id"]}">' in page  # kept by the filters
    # every row of a session's job links to the session's jobs in the history
    everything = client.get("/").content.decode()
    assert everything.count(f'href="?session={session["id"]}"') == 1


def test_run_again_stays_in_an_open_session_and_leaves_a_closed_one(api_for, users, run_jobs):
    api = api_for("alice")
    session = open_session(api)
    first = submit(api, session["id"]).json()["id"]
    again = api.post(f"/jobs/{first}/rerun")
    assert again.status_code == 201 and again.json()["session"] == session["id"]
    api.post(f"/sessions/{session['id']}/close")
    after = api.post(f"/jobs/{first}/rerun")
    assert after.status_code == 201 and after.json()["session"] is None  # a closed session takes none
    assert [job["id"] for job in api.get(f"/sessions/{session['id']}").json()["jobs"]] == [first, again.json()["id"]]
