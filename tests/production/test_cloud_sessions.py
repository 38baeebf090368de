"""An optimiser-style loop of estimator calls in one ``PortalSession``, through ``PortalClient``, on
a production portal (uvicorn + runworker processes, PostgreSQL, Redis) and the IBM stand-in in its
own process: every call runs in one IBM session, also after the worker is killed with SIGKILL in
the middle of the loop, and no job reaches IBM twice."""

from __future__ import annotations

import math

import pytest

from executors.portal_client import PortalClient
from executors.portal_session import PortalSession
from tests.production.harness import Portal, postgres_database
from tests.production.test_cloud_jobs import standin_process  # noqa: F401 - the fixture

pytestmark = [pytest.mark.production, pytest.mark.usefixtures("standin_process")]
REDIS_DB = 1
SHOTS = 4000
CALLS = 24
KILL_AT = 10
ANSATZ = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
ry({theta}) q[0];
cx q[0],q[1];
"""


@pytest.fixture
def portal(tmp_path, standin_process):  # noqa: F811 - the fixture imported above
    info, _ = standin_process
    with postgres_database() as (url, _name):
        portal = Portal(url, redis_db=REDIS_DB, log_dir=tmp_path, QPORTAL_LEASE_SECONDS="3", **info["env"])
        portal.setup()
        try:
            portal.start_web()
            status, cred = portal.request(
                "POST",
                "/credentials",
                {
                    "name": "standin",
                    "token": info["token"],
                    "url": info["url"],
                    "instance": info["crn"],
                    "proxies": info["proxies"],
                },
            )
            assert status == 201, cred
            status, profile = portal.request(
                "POST",
                "/profiles",
                {"name": "cloud", "kind": "ibm_cloud", "backend": "ibm_manila", "credential": "standin"},
            )
            assert status == 201, profile
            yield portal
        finally:
            portal.stop()
            for name in portal.procs:
                assert info["token"] not in (tmp_path / f"{name}.log").read_text(), f"token in {name}.log"


def remote_ids(portal: Portal, job_id: str) -> list:
    return portal.sql("SELECT remote_ids FROM jobs_job WHERE id=%s", job_id)[0][0]


def theta(step: int) -> float:
    return -math.pi + 2 * math.pi * step / (CALLS - 1)


def test_a_loop_of_estimator_calls_stays_in_one_ibm_session_across_a_worker_kill(portal, standin_process):  # noqa: F811
    _, remote = standin_process
    portal.start_worker("w1")
    client = PortalClient(f"http://127.0.0.1:{portal.port}", portal.key)
    energies, job_ids = [], []
    with PortalSession(client, profile="cloud", max_time=1800, name="vqe") as session:
        assert session.details()["status"] == "open"
        for step in range(CALLS):
            if step == KILL_AT:
                remote.hold()  # the job stays queued at IBM while its worker dies
            job = session.submit(
                [ANSATZ.format(theta=theta(step))], primitive="estimator", observables=[["ZI", "ZZ"]], shots=SHOTS
            )
            job_ids.append(job["id"])
            if step == KILL_AT:
                portal.wait_for(lambda job_id=job["id"]: remote_ids(portal, job_id), 60, "the remote id saved")
                portal.kill("w1")
                portal.start_worker("w2")
                remote.release()
                remote.hold(False)
            done = client.wait(job["id"], timeout=120)
            assert done["status"] == "done", done
            assert done["session"] == session.id
            (result,) = client.results(job["id"])
            energies.append(result["evs"])
        details = session.details()
    assert details["status"] == "active" and len(details["jobs"]) == CALLS
    assert [job["id"] for job in details["jobs"]] == job_ids

    state = remote.state()
    [ibm_id] = state["sessions"]["created"]
    assert details["ibm_session_id"] == ibm_id
    assert state["post_count"] == CALLS, "IBM saw a job submitted more than once"
    assert len(state["jobs"]) == CALLS
    assert [job["session_id"] for job in state["jobs"].values()] == [ibm_id] * CALLS
    assert portal.sql("SELECT count(*) FROM jobs_job WHERE attempt > 1")[0][0] == 1  # the one w2 took over
    # ry(theta) then cx: cos(theta/2)|00> + sin(theta/2)|11>, so <ZI> = cos(theta) and <ZZ> = 1;
    # 4000 shots: a standard error of at most 1/sqrt(4000)
    for step, evs in enumerate(energies):
        assert evs == pytest.approx([math.cos(theta(step)), 1.0], abs=5 / math.sqrt(SHOTS)), step

    # the closed portal session ends its IBM session once the jobs are done (the worker's sweep)
    portal.wait_for(lambda: not remote.sessions()["sessions"][ibm_id]["accepting_jobs"], 30, "the IBM session closed")
    assert remote.sessions()["sessions"][ibm_id]["closed_by"] == "close"
    final = client.session(session.id)
    assert final["status"] == "closed" and final["closed_at"] is not None


def test_two_workers_share_one_ibm_batch(portal, standin_process):  # noqa: F811
    """Jobs of one portal batch spread over two workers all run in one IBM batch: whichever worker
    opens it first saves its id, the other joins it (had both opened one, the one saved second
    would be closed with no job in it)."""
    _, remote = standin_process
    client = PortalClient(f"http://127.0.0.1:{portal.port}", portal.key)
    remote.hold()  # jobs stay queued at IBM, so each worker's slots fill and both take jobs
    with PortalSession(client, profile="cloud", mode="batch", name="pair") as batch:
        ids = []
        for step in range(8):
            job = batch.submit([ANSATZ.format(theta=theta(step))], primitive="estimator", observables=[["ZI"]])
            ids.append(job["id"])
        portal.start_worker("w1", concurrency=4)
        portal.start_worker("w2", concurrency=4)
        running = "SELECT worker_id, count(*) FROM jobs_job WHERE remote_ids::text <> '[]' GROUP BY worker_id"
        portal.wait_for(lambda: dict(portal.sql(running)) == {"w1": 4, "w2": 4}, 90, "both workers submitting")
        remote.release()
        remote.hold(False)
        for job_id in ids:
            assert client.wait(job_id, timeout=120)["status"] == "done"
        saved = batch.details()["ibm_session_id"]
    state = remote.state()
    assert state["post_count"] == len(ids) and len(state["jobs"]) == len(ids)
    assert {job["session_id"] for job in state["jobs"].values()} == {saved}
    sessions = state["sessions"]["sessions"]
    assert sessions[saved]["mode"] == "batch" and len(sessions[saved]["job_ids"]) == len(ids)
    for other in set(state["sessions"]["created"]) - {saved}:
        assert sessions[other]["job_ids"] == [] and sessions[other]["accepting_jobs"] is False


def test_a_scipy_vqe_loop_of_portal_estimator_calls_in_one_portal_session(portal, standin_process):  # noqa: F811
    """The issue's form: ``PortalEstimator(mode=PortalSession(...))`` under SciPy's COBYLA, 20 or
    more calls against the IBM stand-in, the worker killed with SIGKILL in the middle of a call."""
    from scipy.optimize import minimize

    from executors.primitives import PortalEstimator
    from tests.executors.test_primitives import H1, _ansatz

    _, remote = standin_process
    portal.start_worker("w1")
    client = PortalClient(f"http://127.0.0.1:{portal.port}", portal.key)
    ansatz, calls, job_ids = _ansatz(), [], []
    with PortalSession(client, profile="cloud", max_time=1800, name="vqe") as session:
        estimator = PortalEstimator(mode=session)

        def energy(x):
            if len(calls) == KILL_AT:
                remote.hold()  # this call's job stays queued at IBM while its worker dies
            job = estimator.run([(ansatz, H1, x)], precision=0.05)
            job_ids.append(job.job_id())
            if len(calls) == KILL_AT:
                portal.wait_for(lambda: remote_ids(portal, job.job_id()), 60, "the remote id saved")
                portal.kill("w1")
                portal.start_worker("w2")
                remote.release()
                remote.hold(False)
            (pub,) = job.result()
            calls.append(float(pub.data.evs))
            return calls[-1]

        minimize(energy, x0=[0.3, -0.3], method="COBYLA", options={"maxiter": 22, "rhobeg": 0.8})
        details = session.details()
    assert len(calls) >= 20
    assert [job["id"] for job in details["jobs"]] == job_ids

    state = remote.state()
    [ibm_id] = state["sessions"]["created"]
    assert details["ibm_session_id"] == ibm_id
    assert state["post_count"] == len(calls), "IBM saw a job submitted more than once"
    assert [job["session_id"] for job in state["jobs"].values()] == [ibm_id] * len(calls)
    # E(a, b) = 1 + 2 cos(a) + 3 sin(b) starts at 1 + 2 cos(0.3) - 3 sin(0.3) = 1.02 and COBYLA
    # goes downhill: the best call is well below the start, whatever the stand-in's noise.
    assert min(calls) < calls[0] - 1.5
    portal.wait_for(lambda: not remote.sessions()["sessions"][ibm_id]["accepting_jobs"], 30, "the IBM session closed")
    assert client.session(session.id)["status"] == "closed"
