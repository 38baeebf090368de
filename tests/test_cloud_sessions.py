"""Portal sessions on an ``ibm_cloud`` profile: the worker and the real qiskit-ibm-runtime client
against the in-process IBM stand-in.  Every job of a portal session runs in one IBM session."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from qportal.jobs import session_worker, sessions
from qportal.jobs.models import RuntimeSession
from qportal.jobs.worker import JobRunner
from tests.circuits import BELL
from tests.stats import assert_counts_match, exact_probabilities
from tests.test_cloud_jobs import cloud_setup, executors  # noqa: F401 - the fixture, used by every test

pytestmark = pytest.mark.usefixtures("executors")

ZZ_QASM = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
ry({theta}) q[0];
cx q[0],q[1];
"""


def open_session(api, **body) -> str:
    resp = api.post("/sessions", {"profile": "cloud", **body})
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def submit(api, session_id: str, **body) -> str:
    resp = api.post("/jobs", {"session": session_id, "circuits": [{"qasm": BELL}], "shots": 1000, **body})
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


@pytest.mark.parametrize(("mode", "ibm_mode"), [("session", "dedicated"), ("batch", "batch")])
def test_every_job_runs_in_one_ibm_session_which_is_closed_at_the_end(api_for, users, standin, mode, ibm_mode):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    session_id = open_session(api, mode=mode, max_time=900)
    runner = JobRunner(worker_id="w1")
    job_ids = []
    for _ in range(4):  # one at a time, as a loop that reads each result before the next call
        job_ids.append(submit(api, session_id))
        async_to_sync(runner.run_until_idle)(120)
    book = standin.session_book
    [ibm_id] = book.created
    assert book.sessions[ibm_id]["mode"] == ibm_mode and book.sessions[ibm_id]["max_ttl"] == 900
    assert RuntimeSession.objects.get(id=session_id).ibm_session_id == ibm_id
    assert RuntimeSession.objects.get(id=session_id).backend == "ibm_manila"
    assert runner.kept_sessions() == [session_id]
    assert [job.session_id for job in standin.jobs.values()] == [ibm_id] * 4
    assert book.sessions[ibm_id]["job_ids"] == list(standin.jobs)
    for job_id in job_ids:
        job = api.job_with_results(job_id)
        assert job["status"] == "done", job
        assert_counts_match(job["results"][0]["counts"], exact_probabilities(BELL))
    assert book.sessions[ibm_id]["accepting_jobs"] is True  # not closed after each job

    assert api.post(f"/sessions/{session_id}/close").status_code == 200
    assert async_to_sync(session_worker.sweep)(runner) == [RuntimeSession.objects.get(id=session_id).id]
    assert book.sessions[ibm_id]["accepting_jobs"] is False and book.sessions[ibm_id]["closed_by"] == "close"
    assert book.sessions[ibm_id]["state"] == "closed"
    assert api.get(f"/sessions/{session_id}").json()["closed_at"] is not None
    assert runner.kept_sessions() == []


def test_a_new_worker_joins_the_saved_ibm_session(api_for, users, standin):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    session_id = open_session(api)
    submit(api, session_id)
    async_to_sync(JobRunner(worker_id="w1").run_until_idle)(120)
    submit(api, session_id)
    async_to_sync(JobRunner(worker_id="w2").run_until_idle)(120)  # knows nothing but the database
    [ibm_id] = standin.session_book.created
    assert [job.session_id for job in standin.jobs.values()] == [ibm_id, ibm_id]
    assert len(standin.calls_to(r"/sessions/" + ibm_id + "$", "GET")) >= 1  # Session.from_id


def test_two_workers_racing_to_open_keep_the_first_saved_session(api_for, users, standin):
    """Both open an IBM session for the same portal session: the one saved second is closed and
    its worker joins the first."""
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    session_id = open_session(api)
    submit(api, session_id)
    submit(api, session_id)
    async_to_sync(JobRunner(worker_id="w1", concurrency=2).run_until_idle)(120)
    jobs = list(standin.jobs.values())
    saved = RuntimeSession.objects.get(id=session_id).ibm_session_id
    assert [job.session_id for job in jobs] == [saved, saved]
    # one executor per portal session and a lock per session inside it: only one was opened
    assert standin.session_book.created == [saved]


def test_cancel_cancels_the_ibm_session_and_its_running_job(api_for, users, standin):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    session_id = open_session(api)
    submit(api, session_id)
    async_to_sync(JobRunner(worker_id="w1").run_until_idle)(120)
    standin.hold()
    job_id = submit(api, session_id)
    runner = JobRunner(worker_id="w1")

    async def run_and_cancel():
        await runner.sweep()
        for _ in range(400):
            if len(standin.jobs) == 2:
                break
            await asyncio.sleep(0.05)
        await sync_to_async(api.post)(f"/sessions/{session_id}/cancel")
        await session_worker.sweep(runner)
        await asyncio.wait(list(runner.tasks.values()), timeout=60)

    async_to_sync(run_and_cancel)()
    ibm_id = RuntimeSession.objects.get(id=session_id).ibm_session_id
    session = standin.session_book.sessions[ibm_id]
    assert session["closed_by"] == "cancel" and session["state"] == "closed"
    assert list(standin.jobs.values())[1].status == "Cancelled"
    assert api.get(f"/jobs/{job_id}").json()["status"] == "cancelled"
    async_to_sync(session_worker.sweep)(runner)
    assert api.get(f"/sessions/{session_id}").json()["closed_at"] is not None


def test_estimator_loop_in_one_session(api_for, users, standin):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    session_id = open_session(api)
    runner = JobRunner(worker_id="w1")
    for theta in (0.0, 1.2, 2.4):
        job_id = submit(
            api,
            session_id,
            primitive="estimator",
            circuits=[{"qasm": ZZ_QASM.format(theta=theta)}],
            observables=[["ZI"]],
            shots=4000,
        )
        async_to_sync(runner.run_until_idle)(120)
        (result,) = api.results(job_id)
        # <Z on qubit 1> after ry(theta), cx: cos(theta); 4000 shots: std <= 1/sqrt(4000)
        assert result["evs"][0] == pytest.approx(math.cos(theta), abs=5 / math.sqrt(4000))
    assert len(standin.session_book.created) == 1


def test_a_session_opened_second_is_closed_and_the_saved_one_joined(api_for, users, standin, monkeypatch):
    """Another worker saved its IBM session between this one's open and save: first saved wins."""
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    session_id = open_session(api)
    theirs = standin.session_book.create({"mode": "dedicated", "backend": "ibm_manila"})["id"]
    real = sessions.record_remote_id

    def saved_first(key, remote_id, backend=""):
        real(key, theirs)
        return real(key, remote_id, backend)

    monkeypatch.setattr(sessions, "record_remote_id", saved_first)
    submit(api, session_id)
    async_to_sync(JobRunner(worker_id="w1").run_until_idle)(120)
    mine = standin.session_book.created[1]
    assert [job.session_id for job in standin.jobs.values()] == [theirs]
    assert standin.session_book.sessions[mine]["closed_by"] == "close"
    assert RuntimeSession.objects.get(id=session_id).ibm_session_id == theirs


def test_a_job_after_the_ibm_session_expired_fails_saying_so_and_the_session_expires(api_for, users, standin):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    session_id = open_session(api, max_time=2)
    runner = JobRunner(worker_id="w1")
    submit(api, session_id)
    async_to_sync(runner.run_until_idle)(120)
    [ibm_id] = standin.session_book.created
    assert standin.session_book.sessions[ibm_id]["max_ttl"] == 2
    late = submit(api, session_id)  # admitted: the worker's sweep has not expired the session yet
    time.sleep(2.1)  # IBM's max_ttl passes
    async_to_sync(runner.run_until_idle)(120)
    job = api.get(f"/jobs/{late}").json()
    assert job["status"] == "failed" and f"IBM session {ibm_id} took no job" in job["error"], job
    assert "not accepting jobs" in job["error"]
    assert standin.session_book.sessions[ibm_id]["closed_by"] == "expired"
    assert len(standin.jobs) == 1
    async_to_sync(session_worker.sweep)(runner)
    assert api.get(f"/sessions/{session_id}").json()["status"] == "expired"
    assert submit_refused(api, session_id) == 409


def submit_refused(api, session_id: str) -> int:
    return api.post("/jobs", {"session": session_id, "circuits": [{"qasm": BELL}]}).status_code
