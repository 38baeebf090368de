"""Background validation of IBM credentials, run by the job worker (never in a request thread).

A credential saved or edited is ``unchecked``; the worker claims it with a conditional update,
builds the runtime service (slow), makes one authenticated call, and records ``valid`` or
``invalid`` with the reason and the backends it saw.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from executors.base import ExecutorError
from qportal.accounts.models import CredentialStatus, IBMCredential

log = logging.getLogger(__name__)


# A check claimed longer ago than this was lost with its worker; another worker takes it over.
CHECK_LEASE = timedelta(minutes=3)


def claim_unchecked(limit: int = 2) -> list[int]:
    """Ids of unchecked credentials this worker now owns (``checked_at`` marks the claim)."""
    now = timezone.now()
    free = Q(checked_at__isnull=True) | Q(checked_at__lt=now - CHECK_LEASE)
    claimed = []
    for cred_id, seen in IBMCredential.objects.filter(free, status=CredentialStatus.UNCHECKED).values_list(
        "id", "checked_at"
    )[:limit]:
        if IBMCredential.objects.filter(id=cred_id, status=CredentialStatus.UNCHECKED, checked_at=seen).update(
            checked_at=now
        ):
            claimed.append(cred_id)
    return claimed


def check_credential(cred_id: int) -> None:
    """Validate one credential and store the outcome. Blocking: run it in a thread."""
    from executors.ibm_cloud import list_backends, validate_credential

    close_old_connections()
    try:
        cred = IBMCredential.objects.filter(id=cred_id).first()
        if cred is None:
            return
        spec = cred.to_spec()
        ok, reason = validate_credential(spec)
        backends = []
        if ok:
            try:
                backends = list_backends(spec)
            except ExecutorError as exc:
                log.info("credential %s: backends not listed: %s", cred_id, exc)
        IBMCredential.objects.filter(id=cred_id, token_encrypted=cred.token_encrypted).update(
            status=CredentialStatus.VALID if ok else CredentialStatus.INVALID,
            status_reason=reason[:500],
            checked_at=timezone.now(),
            backends=backends if ok else [],
        )
        log.info("credential %s (%s) checked: %s", cred_id, cred.masked, "valid" if ok else "invalid")
    finally:
        close_old_connections()
