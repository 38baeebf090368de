"""Remote jobs left running by a job an owner failed while no live worker held it.

``services.force_fail_job`` ends the job at once; the worker holding it is told (or learns at its
next heartbeat) and stops the remote job itself, recording what IBM billed.  When that worker is
dead nobody would, and the IBM job would run on, billing the instance.  :func:`run_forever`, one of
the worker's extra loops (``WORKER_LOOPS``), takes such a job once two leases have passed since the
fail (a live worker has acted by then), claims it with a conditional update of its ``lease_until``
(one worker at a time; a worker that dies doing it leaves the claim to lapse), cancels its remote
jobs (found by their submit tag when no id was saved) and records IBM's bill once
(``store.record_late_charge``).  Fails older than a day, of jobs created over a week before, are
left alone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from qportal.jobs import store
from qportal.jobs.models import Job, JobStatus
from qportal.jobs.usage_models import UsageRecord
from qportal.jobs.worker import db
from qportal.profiles.models import ProfileKind

log = logging.getLogger(__name__)

LOOK_BACK = timedelta(days=1)
# Only jobs created this recently are looked at: the (status, created) index bounds the scan.
CREATED_WITHIN = timedelta(days=7)


def claim(lease_seconds: int, limit: int = 4) -> list[store.WorkItem]:
    """Up to ``limit`` failed-by-an-owner jobs with remote work and no usage on record, past their
    grace period, now claimed by this worker for ``lease_seconds``."""
    now = timezone.now()
    grace = timedelta(seconds=2 * lease_seconds)
    rows = (
        Job.objects.filter(
            status=JobStatus.FAILED,
            cancel_requested=True,
            finished_at__lt=now - grace,
            finished_at__gt=now - LOOK_BACK,
            created__gt=now - CREATED_WITHIN,
            profile__kind__in=[ProfileKind.IBM_CLOUD, ProfileKind.CLUSTER],
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .exclude(remote_ids=[], submit_key="")
        .exclude(Exists(UsageRecord.objects.filter(job_id=OuterRef("id"))))  # an anti-join on its unique key
        .values_list("id", "attempt", "lease_until")[:limit]
    )
    claimed = []
    for job_id, attempt, seen in rows:
        if Job.objects.filter(id=job_id, lease_until=seen).update(lease_until=now + timedelta(seconds=lease_seconds)):
            item = store.load_work(store.Claim(job_id, attempt, recovered=True))
            if item is not None:
                claimed.append(item)
    return claimed


async def sweep(runner) -> int:
    """Stop and charge the abandoned remote jobs due now; how many were recorded."""
    recorded = 0
    for item in await db(claim)(runner.lease_seconds):
        used = await runner.stop_remote_of(item)
        if "qpu_seconds" in used and await db(store.record_late_charge)(item, used):
            recorded += 1
            log.info("job %s: stopped its abandoned remote job; IBM billed %s s", item.job_id, used["qpu_seconds"])
    return recorded


async def run_forever(runner) -> None:
    """The worker's loop for abandoned remote jobs (started by ``JobRunner.serve``)."""
    while True:
        try:
            await sweep(runner)
        except Exception:
            log.exception("sweep for abandoned remote jobs failed; retrying")
        await asyncio.sleep(settings.WORKER_SWEEP_SECONDS * 10)
