"""An owner can force-fail a stuck job (issue 16), from the API and from the job page; the worker
running it stops, and its later writes change nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from executors import isolation
from qportal.jobs import services
from qportal.jobs.models import Job, JobStatus
from qportal.jobs.worker import JobRunner
from tests.circuits import BELL
from tests.hostile.test_poison_jobs import LONG, alive, busy_children, statuses, until


def submit(user, qasm: str = BELL, shots: int = 10, team=None):
    return services.submit_job(
        user, services.Submission(profile="local", circuits=[{"qasm": qasm}], shots=shots, team=team)
    )


def test_only_owners_may_fail_a_job_and_only_an_unfinished_one(users, api_for):
    job = submit(users["alice"], team=users["lab"].id)
    assert api_for("bob").post(f"/jobs/{job.id}/fail", {"reason": "x"}).status_code == 403  # member
    assert api_for("viola").post(f"/jobs/{job.id}/fail").status_code == 403  # viewer
    assert api_for("charlie").post(f"/jobs/{job.id}/fail").status_code == 404  # outsider
    answer = api_for("alice").post(f"/jobs/{job.id}/fail", {"reason": "stuck since Monday"})
    assert answer.status_code == 200 and answer.json()["status"] == "failed"
    job.refresh_from_db()
    assert job.error == "failed by alice: stuck since Monday"
    assert list(job.events.values_list("kind", "message"))[-1] == ("failed", "failed by alice: stuck since Monday")
    assert api_for("alice").post(f"/jobs/{job.id}/fail").status_code == 409  # finished


def test_the_page_shows_the_button_to_owners_only_and_it_fails_the_job(users, client):
    job = submit(users["alice"], team=users["lab"].id)
    for name, shown in (("alice", True), ("bob", False), ("viola", False)):
        client.force_login(users[name])
        assert ('id="force-fail"' in client.get(f"/jobs/{job.id}/").content.decode()) is shown, name
    client.force_login(users["bob"])
    assert client.post(f"/jobs/{job.id}/fail/", {"reason": "x"}).status_code == 403
    client.force_login(users["charlie"])
    assert client.post(f"/jobs/{job.id}/fail/").status_code == 404
    client.force_login(users["alice"])
    assert client.post(f"/jobs/{job.id}/fail/", {"reason": "hung"}).status_code == 302
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, "failed by alice: hung")
    assert 'id="force-fail"' not in client.get(f"/jobs/{job.id}/").content.decode()
    assert client.post(f"/jobs/{job.id}/fail/").status_code == 409


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_failing_a_running_job_stops_its_simulation_and_the_worker_writes_nothing_after(users, settings):
    settings.WORKER_SIM_PROCESSES = 1
    job = submit(users["alice"], LONG, 100_000)

    async def scenario():
        runner = JobRunner(worker_id="w", sweep_seconds=0.2, lease_seconds=300)  # heartbeats 100 s apart
        serving = asyncio.create_task(runner.serve())
        try:
            await until(lambda: statuses(job) == ["running"])
            (child,) = await busy_children()
            started = time.monotonic()
            await sync_to_async(services.force_fail_job)(users["alice"], job, "hung")
            while alive(child) and time.monotonic() - started < 10:  # the cancel notice stops it
                await asyncio.sleep(0.05)
            assert not alive(child), "the simulation kept running"
            await asyncio.sleep(0.5)  # time for any late write of the worker
            assert not runner.tasks
        finally:
            serving.cancel()
            isolation.disable()

    async_to_sync(scenario)()
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, "failed by alice: hung")
    assert list(job.events.values_list("kind", flat=True))[-1] == "failed"
    assert Job.objects.get(id=job.id).circuits.get().done is False
