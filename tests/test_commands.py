from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from qportal.accounts.models import ApiKey, Membership


def test_create_api_key_creates_user_team_and_a_working_key(db, client):
    out = StringIO()
    call_command("create_api_key", "dora", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    assert key.startswith("qp_")
    stored = ApiKey.objects.get(user__username="dora")
    assert key not in (stored.hashed, stored.lookup) and len(stored.hashed) == 64
    assert Membership.objects.filter(user__username="dora", team__personal=True, role="owner").count() == 1
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {key[:-1]}x").status_code == 401
    call_command("create_api_key", "dora", stdout=StringIO())  # a second key, same user and team
    assert ApiKey.objects.filter(user__username="dora").count() == 2
    assert Membership.objects.filter(user__username="dora").count() == 1


def test_every_new_user_gets_a_personal_team(db):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", password="x" * 12)
    assert Membership.objects.filter(user=admin, team__personal=True, role="owner").count() == 1
