"""Background credential checks are claimed once, and a check lost with its worker is taken over."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from qportal.accounts import checks
from qportal.accounts.models import IBMCredential


def test_unchecked_credential_is_claimed_once_and_recovered_after_a_lost_check(users):
    cred = IBMCredential(team=users["lab"], name="ibm")
    cred.set_token("token-for-claim-test")
    cred.save()
    assert checks.claim_unchecked() == [cred.id]
    assert checks.claim_unchecked() == []  # another worker is checking it
    IBMCredential.objects.filter(id=cred.id).update(
        checked_at=timezone.now() - checks.CHECK_LEASE - timedelta(seconds=1)
    )
    assert checks.claim_unchecked() == [cred.id]  # that worker died: take the check over
    IBMCredential.objects.filter(id=cred.id).update(status="valid")
    IBMCredential.objects.filter(id=cred.id).update(checked_at=timezone.now() - timedelta(hours=1))
    assert checks.claim_unchecked() == []  # checked credentials are not re-checked by the sweep
