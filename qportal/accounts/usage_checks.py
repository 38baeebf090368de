"""The IBM instance's remaining seconds (``service.usage()``), refreshed by the job worker.

Each valid credential's usage is read every ``settings.INSTANCE_USAGE_REFRESH_SECONDS`` (claimed
with a conditional update on ``usage_checked_at``, so one worker reads it) and stored on the
credential: its page shows it, and a submission that the instance cannot hold is refused
(``qportal.jobs.budgets.check_instance``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from executors.base import ExecutorError
from qportal.accounts.models import CredentialStatus, IBMCredential

log = logging.getLogger(__name__)


def claim_due(limit: int = 2) -> list[int]:
    """Ids of valid credentials whose usage is due, now claimed by this worker."""
    now = timezone.now()
    every = timedelta(seconds=settings.INSTANCE_USAGE_REFRESH_SECONDS)
    due = Q(usage_checked_at__isnull=True) | Q(usage_checked_at__lt=now - every)
    claimed = []
    rows = IBMCredential.objects.filter(due, status=CredentialStatus.VALID).values_list("id", "usage_checked_at")
    for cred_id, seen in rows[:limit]:
        if IBMCredential.objects.filter(id=cred_id, usage_checked_at=seen).update(usage_checked_at=now):
            claimed.append(cred_id)
    return claimed


def refresh_usage(cred_id: int) -> bool:
    """Read and store the instance's usage (blocking); False when it could not be read."""
    from executors.ibm_cloud import instance_usage

    cred = IBMCredential.objects.filter(id=cred_id).first()
    if cred is None:
        return False
    try:
        found = instance_usage(cred.to_spec())
    except ExecutorError as exc:
        log.info("credential %s: usage not read: %s", cred_id, exc)
        return False
    IBMCredential.objects.filter(id=cred_id).update(usage=found, usage_checked_at=timezone.now())
    return True


def refresh_in_thread(cred_id: int) -> bool:
    """``refresh_usage`` in a worker's thread, on connections of its own."""
    close_old_connections()
    try:
        return refresh_usage(cred_id)
    finally:
        close_old_connections()
