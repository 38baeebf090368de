"""``ApiKey.last_used`` is kept to a one-minute resolution, not written on every request."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from qportal.accounts.access import ensure_user
from qportal.accounts.models import ApiKey
from qportal.auth import LAST_USED_RESOLUTION


@pytest.mark.django_db
def test_last_used_is_set_on_first_use_and_refreshed_only_when_stale():
    key_row, key = ApiKey.issue(ensure_user("dora"), "script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    assert client.get("/api/v1/jobs").status_code == 200
    first = ApiKey.objects.get(id=key_row.id).last_used
    assert first is not None

    assert client.get("/api/v1/jobs").status_code == 200
    assert ApiKey.objects.get(id=key_row.id).last_used == first

    old = timezone.now() - LAST_USED_RESOLUTION - timedelta(seconds=1)
    ApiKey.objects.filter(id=key_row.id).update(last_used=old)
    assert client.get("/api/v1/jobs").status_code == 200
    assert ApiKey.objects.get(id=key_row.id).last_used > old


@pytest.mark.django_db
def test_a_wrong_key_is_refused_and_marks_nothing():
    key_row, key = ApiKey.issue(ensure_user("dora"), "script")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key[:-2]}xx")
    assert client.get("/api/v1/jobs").status_code == 401
    assert ApiKey.objects.get(id=key_row.id).last_used is None
