"""Crash safety of the IBM cloud path in production mode: uvicorn + runworker processes on PostgreSQL
and Redis, the IBM API stand-in in its own process. A worker killed with SIGKILL at the worst
moments never makes IBM run a job twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.circuits import BELL
from tests.ibm_standin.server import RemoteStandIn
from tests.production.harness import ROOT, Portal, postgres_database
from tests.stats import assert_counts_match, exact_probabilities

pytestmark = pytest.mark.production
JOBS = r"/jobs$"
SHOTS = 2000


@pytest.fixture
def standin_process():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ibm_standin.server", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        info = json.loads(proc.stdout.readline())
        yield info, RemoteStandIn(info["port"])
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture
def portal(tmp_path, standin_process):
    info, _ = standin_process
    with postgres_database() as (url, _name):
        portal = Portal(
            url, redis_db=11, log_dir=tmp_path, QPORTAL_LEASE_SECONDS="3", QPORTAL_SIM_PROCESSES="1", **info["env"]
        )
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


def job_row(portal: Portal, job_id: str) -> dict:
    status, submit_key, remote_ids, attempt = portal.sql(
        "SELECT status, submit_key, remote_ids, attempt FROM jobs_job WHERE id=%s", job_id
    )[0]
    return {"status": status, "submit_key": submit_key, "remote_ids": remote_ids, "attempt": attempt}


def submit(portal: Portal) -> str:
    status, job = portal.request("POST", "/jobs", {"profile": "cloud", "circuits": [{"qasm": BELL}], "shots": SHOTS})
    assert status == 201, job
    return job["id"]


def assert_done_once(portal: Portal, remote: RemoteStandIn, job_id: str) -> dict:
    portal.wait_for(lambda: job_row(portal, job_id)["status"] in ("done", "failed"), 90, "job finished")
    job = portal.request("GET", f"/jobs/{job_id}")[1]
    assert job["status"] == "done", job
    state = remote.state()
    assert state["post_count"] == 1, "IBM saw the job submitted more than once"
    assert list(state["jobs"]) == job["remote_ids"]
    (result,) = portal.request("GET", f"/jobs/{job_id}/results")[1]["items"]
    assert_counts_match(result["counts"], exact_probabilities(BELL))
    assert sum(result["counts"].values()) == SHOTS
    return job


def test_kill_9_after_the_post_before_the_id_is_saved(portal, standin_process):
    _, remote = standin_process
    remote.slow(JOBS, 120, times=1, method="POST", after=True)  # the job is created; its id never arrives
    portal.start_worker("w1")
    job_id = submit(portal)
    portal.wait_for(lambda: remote.post_count == 1 and remote.state()["jobs"], 60, "the remote POST")
    row = job_row(portal, job_id)
    assert row["status"] == "submitting" and row["submit_key"] and row["remote_ids"] == []
    portal.kill("w1")
    [remote_job] = remote.state()["jobs"].values()
    assert row["submit_key"] in remote_job["tags"]

    portal.start_worker("w2")
    job = assert_done_once(portal, remote, job_id)
    assert job["attempt"] == 2
    kinds = [(e["kind"], e["message"]) for e in job["events"]]
    assert ("running", "recovered remote job by its tag") in kinds, kinds


def test_kill_9_while_polling_then_reattach(portal, standin_process):
    _, remote = standin_process
    remote.hold()
    portal.start_worker("w1")
    job_id = submit(portal)
    portal.wait_for(lambda: job_row(portal, job_id)["remote_ids"], 60, "the remote id saved")
    row = job_row(portal, job_id)
    assert row["status"] == "running" and row["remote_ids"] == list(remote.state()["jobs"])
    portal.kill("w1")

    portal.start_worker("w2")
    portal.wait_for(lambda: job_row(portal, job_id)["attempt"] == 2, 30, "the job recovered by w2")
    portal.wait_for(
        lambda: portal.sql(
            "SELECT count(*) FROM jobs_jobevent WHERE job_id=%s AND message=%s", job_id, "reattached to remote job"
        )[0][0]
        == 1,
        30,
        "w2 reattached",
    )
    time.sleep(0.5)
    remote.release()
    job = assert_done_once(portal, remote, job_id)
    assert job["attempt"] == 2
    # w2 read the ISA circuit back from IBM: the provenance keeps it and its layout
    [circuit] = portal.request("GET", f"/jobs/{job_id}/provenance")[1]["circuits"]
    assert circuit["isa"]["two_qubit_gates"] >= 1 and circuit["isa"]["diagram"]
    assert len(circuit["physical_qubits"]) == 2
