"""Background validation of IBM credentials, run by the job worker (never in a request thread).

A credential saved or edited is ``unchecked``; the worker claims it with a conditional update,
builds the runtime service (slow), makes one authenticated call, and records ``valid`` or
``invalid`` with the reason and the backends it saw.
"""

from __future__ import annotations

import logging

from django.db import close_old_connections
from django.utils import timezone

from executors.base import ExecutorError
from qportal.accounts.models import CredentialStatus, IBMCredential

log = logging.getLogger(__name__)


def claim_unchecked(limit: int = 2) -> list[int]:
    """Ids of unchecked credentials this worker now owns (``checked_at`` marks the claim)."""
    claimed = []
    for cred_id in IBMCredential.objects.filter(status=CredentialStatus.UNCHECKED, checked_at__isnull=True).values_list("id", flat=True)[:limit]:
        if IBMCredential.objects.filter(id=cred_id, status=CredentialStatus.UNCHECKED, checked_at__isnull=True).update(checked_at=timezone.now()):
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
