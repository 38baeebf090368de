"""Production mode on the machine's real PostgreSQL and Redis: uvicorn + two runworker processes."""

from __future__ import annotations

import collections

import pytest

from tests.circuits import BELL
from tests.production.harness import running_portal

pytestmark = pytest.mark.production

# Mid-circuit measurement and reset make Aer simulate every shot separately: an honest,
# seconds-long local job (several seconds at 6000 shots here) to kill a worker in the middle of.
SLOW = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[10];\ncreg m[10];\ncreg c[10];\n'
    + "".join(f"h q[{i}];\ncx q[{i}],q[{(i + 1) % 10}];\nrz(0.3) q[{(i + 3) % 10}];\n" for i in range(10)) * 2
    + "measure q -> m;\nreset q;\nh q;\nmeasure q -> c;\n"
)
SLOW_SHOTS = 6000


@pytest.fixture
def portal(tmp_path):
    with running_portal(tmp_path, redis_db=9) as portal:
        yield portal


def test_two_workers_run_each_job_once_and_survive_kill_9(portal):
    portal.start_web()
    portal.start_worker("w1")
    portal.start_worker("w2")

    status, slow = portal.request(
        "POST", "/jobs", {"profile": "local", "circuits": [{"qasm": SLOW}], "shots": SLOW_SHOTS, "name": "slow"}
    )
    assert status == 201, slow
    slow_id = slow["id"]
    portal.wait_for(
        lambda: portal.sql("SELECT status FROM jobs_job WHERE id=%s", slow_id)[0][0] == "running",
        60,
        "slow job running",
    )
    victim = portal.sql("SELECT worker_id FROM jobs_job WHERE id=%s", slow_id)[0][0]
    portal.kill(victim)

    ids = []
    for i in range(200):
        status, body = portal.request(
            "POST", "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "shots": 100, "name": f"bulk {i}"}
        )
        assert status == 201, body
        ids.append(body["id"])

    all_ids = ids + [slow_id]
    portal.wait_for(
        lambda: portal.sql("SELECT count(*) FROM jobs_job WHERE status = 'done'")[0][0] == len(all_ids),
        300,
        "all jobs done",
    )
    assert portal.sql("SELECT count(*) FROM jobs_job WHERE status <> 'done'")[0][0] == 0

    done_events = collections.Counter(
        job for (job,) in portal.sql("SELECT job_id::text FROM jobs_jobevent WHERE kind = 'done'")
    )
    assert set(done_events) == set(all_ids)
    assert set(done_events.values()) == {1}, "a job finished more than once"

    # Each claim names its worker; only jobs the killed worker held may have a second attempt.
    claims = collections.defaultdict(list)
    for job, kind, worker in portal.sql(
        "SELECT job_id::text, kind, data->>'worker' FROM jobs_jobevent"
        " WHERE kind IN ('claimed', 'recovered') ORDER BY job_id, seq"
    ):
        claims[job].append((kind, worker))
    for job, history in claims.items():
        assert history[0][0] == "claimed"
        for kind, _worker in history[1:]:
            assert kind == "recovered"
        if len(history) > 1:
            assert all(worker == victim for _, worker in history[:-1]), (job, history)
    assert len(claims[slow_id]) == 2 and claims[slow_id][1][1] != victim

    slow_job = portal.request("GET", f"/jobs/{slow_id}")[1]
    assert slow_job["attempt"] == 2
    (slow,) = portal.request("GET", f"/jobs/{slow_id}/results")[1]["items"]
    assert sum(slow["counts"].values()) == SLOW_SHOTS
    (bulk,) = portal.request("GET", f"/jobs/{ids[0]}/results")[1]["items"]
    assert set(bulk["counts"]) <= {"00", "11"} and sum(bulk["counts"].values()) == 100
