"""``kill -9`` of the worker between a job's finish and its usage being recorded and settled: the
usage is recorded exactly once.  uvicorn + runworker on PostgreSQL and Redis, the IBM stand-in in
a process of its own.  The first worker runs with ``QPORTAL_TEST_PAUSE_BEFORE_USAGE`` (test-only,
``qportal.jobs.usage``): inside the transaction that finishes the job, after the job's "done"
update and before its usage row and settlement, it writes a marker file and sleeps; it is
killed there."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.circuits import BELL
from tests.ibm_standin.server import RemoteStandIn
from tests.production.harness import ROOT, Portal
from tests.test_budget_race import usage_postgres

pytestmark = pytest.mark.production
REDIS_DB = 4


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
    with usage_postgres("qp_usage_kill") as url:
        portal = Portal(
            url,
            redis_db=REDIS_DB,
            log_dir=tmp_path,
            QPORTAL_LEASE_SECONDS="3",
            QPORTAL_SIM_PROCESSES="1",
            **info["env"],
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


def test_kill_9_between_finish_and_settlement_records_usage_once(portal, standin_process, tmp_path):
    _, remote = standin_process
    remote.set_usage(seconds=1.5)
    status, job = portal.request("POST", "/jobs", {"profile": "cloud", "circuits": [{"qasm": BELL}], "shots": 1000})
    assert status == 201, job
    job_id, team = job["id"], job["team"]
    # A budget set after submission: the job holds nothing, so its usage joins the window at settlement.
    status, budget = portal.request("PUT", "/budgets", {"team": team, "period": "day", "seconds": 100})
    assert status == 200, budget

    pause = tmp_path / "pause"
    portal._spawn(
        "w1",
        [sys.executable, "manage.py", "runworker", "--worker-id", "w1"],
        env={**portal.env, "QPORTAL_TEST_PAUSE_BEFORE_USAGE": str(pause)},
    )
    marker = Path(f"{pause}.paused")
    portal.wait_for(marker.exists, 90, "w1 paused between the finish and the usage")
    # The finish is written but not committed: from outside the job still runs and nothing is recorded.
    assert portal.sql("SELECT status FROM jobs_job WHERE id=%s", job_id) == [("running",)]
    assert portal.sql("SELECT count(*) FROM jobs_usagerecord") == [(0,)]
    portal.kill("w1")

    portal.start_worker("w2")
    portal.wait_for(
        lambda: portal.sql("SELECT status FROM jobs_job WHERE id=%s", job_id) == [("done",)], 90, "w2 finished it"
    )
    time.sleep(1)  # a second settlement, if there were one, would have landed by now
    rows = portal.sql("SELECT job_id::text, qpu_seconds, username, status FROM jobs_usagerecord")
    assert rows == [(job_id, 1.5, "alice", "done")]
    assert portal.sql("SELECT held_ms, used_ms FROM jobs_budgetwindow") == [(0, 1500)]
    state = remote.state()
    assert state["post_count"] == 1 and list(state["charged"].values()) == [1.5]
    detail = portal.request("GET", f"/jobs/{job_id}")[1]
    assert detail["attempt"] == 2 and detail["usage"]["qpu_seconds"] == 1.5
    assert [e["kind"] for e in detail["events"]].count("done") == 1
    status, usage = portal.request("GET", f"/usage?team={team}&group_by=user")
    assert usage["total"]["qpu_seconds"] == 1.5 and usage["groups"]["user"] == [
        {"key": "alice", "jobs": 1, "qpu_seconds": 1.5, "wall_seconds": 0.0, "cpu_seconds": 0.0}
    ]
