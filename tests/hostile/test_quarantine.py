"""Quarantine (issue 16): a job whose workers keep dying is failed after a bounded number of
recoveries instead of being handed to the next worker forever."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from qportal.jobs import services, store
from qportal.jobs.models import Job, JobStatus
from tests.circuits import BELL


def submit(user):
    return services.submit_job(user, services.Submission(profile="local", circuits=[{"qasm": BELL}], shots=10))


def worker_dies(job) -> None:
    """What a killed worker leaves behind: its lease runs out with nobody renewing it."""
    Job.objects.filter(id=job.id).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_a_job_whose_workers_die_three_times_is_quarantined_not_claimed_again(users, settings):
    assert settings.MAX_RECOVERIES == 3  # the default
    job, other = submit(users["alice"]), submit(users["bob"])
    claims = []
    for n in range(1, 4):
        claims += [c for c in store.claim_jobs(f"worker-{n}", 1, 30) if c.job_id == job.id]
        worker_dies(job)
    assert [claim.attempt for claim in claims] == [1, 2, 3]
    assert [claim.recovered for claim in claims] == [False, True, True]

    assert [c.job_id for c in store.claim_jobs("worker-4", 10, 30)] == [other.id]  # never the poison job
    job.refresh_from_db()
    assert (job.status, job.recoveries, job.attempt) == (JobStatus.FAILED, 3, 3)
    assert job.error.startswith("quarantined: the workers running it died 3 times (QPORTAL_MAX_RECOVERIES is 3)")
    assert list(job.events.values_list("kind", flat=True))[-1] == "failed"
    assert store.claim_jobs("worker-5", 10, 30) == []


def test_the_bound_is_a_setting(users, settings):
    settings.MAX_RECOVERIES = 1
    job = submit(users["alice"])
    assert len(store.claim_jobs("w1", 1, 30)) == 1
    worker_dies(job)
    assert store.claim_jobs("w2", 1, 30) == []
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "died once (QPORTAL_MAX_RECOVERIES is 1)" in job.error
