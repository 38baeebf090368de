"""Archiving and deleting jobs: who may, what the lists show, and what is left of a deleted job
(nothing), including one a worker is running."""

from __future__ import annotations

import asyncio
import logging

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from executors import isolation
from qportal.accounts.models import ApiKey
from qportal.jobs import services, waiting
from qportal.jobs.models import Job, JobCircuit, JobEvent, JobStatus
from qportal.jobs.worker import JobRunner
from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL, GHZ3
from tests.test_worker import SLOW


def lab_job(users, status=JobStatus.DONE, **kwargs) -> Job:
    job = services.submit_job(
        users["alice"],
        services.Submission(profile="local", circuits=[{"qasm": BELL}, {"qasm": GHZ3}], team=users["lab"].id, **kwargs),
    )
    if status != JobStatus.QUEUED:
        Job.objects.filter(id=job.id).update(status=status)
    return job


def listed(api, **params) -> list[str]:
    response = api.get("/jobs", **params)
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


# -- archive ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "expected"), [("alice", 200), ("bob", 200), ("viola", 403), ("charlie", 404)])
def test_archive_and_unarchive_need_a_writable_membership(api_for, users, who, expected):
    job = lab_job(users)
    api = api_for(who)
    assert api.post(f"/jobs/{job.id}/archive").status_code == expected
    job.refresh_from_db()
    assert (job.archived_at is not None) == (expected == 200)
    if expected != 200:
        Job.objects.filter(id=job.id).update(archived_at=timezone.now())
    assert api.post(f"/jobs/{job.id}/unarchive").status_code == expected
    job.refresh_from_db()
    assert (job.archived_at is None) == (expected == 200)


def test_archived_jobs_are_hidden_unless_asked_for_then_shown_again(api_for, users):
    kept, archived = lab_job(users, name="kept"), lab_job(users, name="put away")
    api = api_for("bob")
    assert set(listed(api)) == {str(kept.id), str(archived.id)}

    answer = api.post(f"/jobs/{archived.id}/archive")
    assert answer.status_code == 200 and answer.json()["archived_at"] is not None
    assert api.post(f"/jobs/{archived.id}/archive").json()["archived_at"] == answer.json()["archived_at"]  # idempotent
    assert listed(api) == [str(kept.id)]
    assert listed(api, archived="true") == [str(archived.id)]
    detail = api.get(f"/jobs/{archived.id}").json()  # still there by its id, saying so
    assert detail["archived_at"] == answer.json()["archived_at"]
    assert [e["kind"] for e in detail["events"]][-1] == "archived"

    assert api.post(f"/jobs/{archived.id}/unarchive").json()["archived_at"] is None
    assert set(listed(api)) == {str(kept.id), str(archived.id)}
    assert listed(api, archived="true") == []


def test_an_unfinished_job_cannot_be_archived(api_for, users):
    job = lab_job(users, status=JobStatus.RUNNING)
    answer = api_for("alice").post(f"/jobs/{job.id}/archive")
    assert answer.status_code == 409 and "cancel it" in answer.json()["detail"]
    job.refresh_from_db()
    assert job.archived_at is None


# -- delete -----------------------------------------------------------------------------------


def remains(job) -> tuple[int, int, int]:
    return (
        Job.objects.filter(id=job.id).count(),
        JobCircuit.objects.filter(job_id=job.id).count(),
        JobEvent.objects.filter(job_id=job.id).count(),
    )


@pytest.mark.parametrize(("who", "expected"), [("viola", 403), ("charlie", 404), ("bob", 204)])
def test_delete_removes_the_job_its_circuits_and_events(api_for, users, who, expected):
    job = lab_job(users)
    rerun = services.rerun_job(users["alice"], job)
    Job.objects.filter(id=job.id).update(archived_at=timezone.now())  # archived jobs can be deleted too
    assert remains(job) == (1, 2, 1)
    answer = api_for(who).delete(f"/jobs/{job.id}")
    assert answer.status_code == expected, answer.content
    if expected != 204:
        assert remains(job) == (1, 2, 1)
        return
    assert answer.content == b""
    assert remains(job) == (0, 0, 0)
    assert api_for(who).get(f"/jobs/{job.id}").status_code == 404
    rerun.refresh_from_db()
    assert rerun.rerun_of_id is None and remains(rerun) == (1, 2, 1)  # the job run from it stays


def test_a_queued_job_is_cancelled_and_deleted_at_once(api_for, users):
    job = lab_job(users, status=JobStatus.QUEUED)
    assert api_for("alice").delete(f"/jobs/{job.id}").status_code == 204
    assert remains(job) == (0, 0, 0)


def test_a_running_job_that_does_not_stop_is_a_409_and_is_left_cancelling(api_for, users, monkeypatch):
    """No worker here: the job never stops, so the answer is a 409 after the wait; once it has
    stopped, deleting it again removes it."""
    monkeypatch.setattr(waiting, "DELETE_WAIT_SECONDS", 0.3)
    monkeypatch.setattr(waiting, "RECHECK_SECONDS", 0.05)
    job = lab_job(users, status=JobStatus.RUNNING)
    api = api_for("alice")
    answer = api.delete(f"/jobs/{job.id}")
    assert answer.status_code == 409 and "not stopped" in answer.json()["detail"]
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.cancel_requested and remains(job) == (1, 2, 2)
    Job.objects.filter(id=job.id).update(status=JobStatus.CANCELLED)  # what its worker does
    assert api.delete(f"/jobs/{job.id}").status_code == 204
    assert remains(job) == (0, 0, 0)


def worker_warnings(caplog) -> list[str]:
    """What the worker and the executors logged at WARNING or above (a 404's access log aside)."""
    ours = [r for r in caplog.records if r.name.startswith(("qportal", "executors"))]
    return [r.getMessage() for r in ours if r.levelno >= logging.WARNING]


def _stepwise_job(users, n: int = 40) -> Job:
    ExecutorProfile.objects.create(team=users["lab"], name="stepwise", kind="local", single_job=False)
    return services.submit_job(
        users["alice"],
        services.Submission(profile="stepwise", circuits=[{"qasm": SLOW}] * n, shots=2000, team=users["lab"].id),
    )


async def _until_running(job) -> None:
    for _ in range(600):
        await asyncio.sleep(0.05)
        status, done = await sync_to_async(lambda: Job.objects.values_list("status", "circuits_done").get(id=job.id))()
        if status == JobStatus.RUNNING and done >= 1:
            return
    raise AssertionError("the job did not start")


def _with_worker(scenario, lease_seconds: int = 30):
    async def main():
        serving = asyncio.create_task(JobRunner(worker_id="w", lease_seconds=lease_seconds).serve())
        try:
            return await scenario()
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            isolation.disable()  # serve() turned it on for this process

    return async_to_sync(main)()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_deleting_a_running_job_cancels_it_and_deletes_it_once_stopped(users, caplog):
    """The DELETE answers once the worker has stopped the job; a long-poll waiting on it ends with
    the job cancelled (or, if the delete came first, with a 404)."""
    job = _stepwise_job(users)
    _, key = ApiKey.issue(users["bob"])
    client, headers = AsyncClient(), {"Authorization": f"Bearer {key}"}

    async def scenario():
        await _until_running(job)
        waiting_get = asyncio.create_task(client.get(f"/api/v1/jobs/{job.id}", {"wait": 30}, headers=headers))
        await asyncio.sleep(0.2)
        deleted = await client.delete(f"/api/v1/jobs/{job.id}", headers=headers)
        return deleted, await waiting_get

    with caplog.at_level(logging.WARNING):
        deleted, waited = _with_worker(scenario, lease_seconds=300)  # stopped by the cancel notice
    assert deleted.status_code == 204, deleted.content
    assert remains(job) == (0, 0, 0)
    assert (waited.status_code, waited.json().get("status")) in ((200, "cancelled"), (404, None)), waited.json()
    assert worker_warnings(caplog) == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_job_deleted_under_its_worker_leaves_no_error_and_no_row(users, caplog):
    """Deleted behind the worker's back (the admin, a team's deletion): its heartbeat finds no row
    and stops the run; every later write (results, the end) matches nothing.  A long-poll waiting
    on it is answered 404."""
    job = _stepwise_job(users)
    _, key = ApiKey.issue(users["bob"])
    client, headers = AsyncClient(), {"Authorization": f"Bearer {key}"}

    async def scenario():
        await _until_running(job)
        waiting_get = asyncio.create_task(client.get(f"/api/v1/jobs/{job.id}", {"wait": 30}, headers=headers))
        await asyncio.sleep(0.2)
        await sync_to_async(lambda: Job.objects.filter(id=job.id).delete())()
        for _ in range(400):
            await asyncio.sleep(0.05)
            if not await sync_to_async(lambda: Job.objects.filter(status=JobStatus.RUNNING).exists())():
                break
        await asyncio.sleep(1.5)  # a heartbeat (lease 3 s: one a second) and the writes after it
        counts = await sync_to_async(lambda: (JobCircuit.objects.count(), JobEvent.objects.count()))()
        return counts, await waiting_get

    with caplog.at_level(logging.WARNING):
        leftover, waited = _with_worker(scenario, lease_seconds=3)
    assert remains(job) == (0, 0, 0) and leftover == (0, 0)
    assert waited.status_code == 404 and waited.json() == {"detail": "job not found"}
    assert worker_warnings(caplog) == []


# -- pages ------------------------------------------------------------------------------------


def test_job_page_offers_archive_and_delete_to_members_only(client, users):
    job = lab_job(users)
    page = reverse("job-detail", args=[job.id])
    client.force_login(users["bob"])
    body = client.get(page).content.decode()
    assert 'data-archive="' in body and 'data-delete="' in body
    client.force_login(users["viola"])
    body = client.get(page).content.decode()
    assert "data-archive" not in body and "data-delete" not in body


@pytest.mark.parametrize(("who", "expected"), [("viola", 403), ("charlie", 404)])
def test_archive_and_delete_pages_refuse_viewers_and_outsiders(client, users, who, expected):
    job = lab_job(users)
    client.force_login(users[who])
    assert client.post(reverse("job-archive", args=[job.id])).status_code == expected
    assert client.post(reverse("job-delete", args=[job.id])).status_code == expected
    job.refresh_from_db()
    assert job.archived_at is None and remains(job) == (1, 2, 1)


def test_list_page_hides_archived_jobs_unless_ticked_and_delete_goes_back_to_it(client, users):
    lab_job(users, name="kept-job")
    archived = lab_job(users, name="archived-job")
    client.force_login(users["bob"])
    answer = client.post(reverse("job-archive", args=[archived.id]), {"archived": "true", "next": "/"})
    assert answer.status_code == 302 and answer["Location"] == "/"
    body = client.get(reverse("job-list")).content.decode()
    assert "kept-job" in body and "archived-job" not in body and 'data-archive="' in body
    body = client.get(reverse("job-list"), {"archived": "true"}).content.decode()
    assert "archived-job" in body and "kept-job" not in body and 'id="show-archived" checked' in body
    assert 'data-unarchive="' in body
    answer = client.post(reverse("job-delete", args=[archived.id]))
    assert answer.status_code == 302 and answer["Location"] == reverse("job-list")
    assert remains(archived) == (0, 0, 0)
