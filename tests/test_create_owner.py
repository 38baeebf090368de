"""manage.py create_owner: the first owner of a lab, with a password and a team."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from qportal.accounts.models import AuditEntry, Membership

pytestmark = pytest.mark.django_db


def create_owner(monkeypatch, password: str, *args: str) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    out = io.StringIO()
    call_command("create_owner", *args, "--password-stdin", stdout=out)
    return out.getvalue()


def test_creates_a_user_who_logs_in_and_owns_the_team(monkeypatch):
    args = ("ada", "--team", "Quantum lab", "--email", "ada@lab.example")
    out = create_owner(monkeypatch, "a long lab passphrase", *args)
    ada = get_user_model().objects.get(username="ada")
    assert not ada.is_superuser and not ada.is_staff and ada.email == "ada@lab.example"
    owned = Membership.objects.get(user=ada, team__personal=False)
    assert (owned.team.name, owned.role) == ("Quantum lab", "owner") and "Quantum lab" in out
    assert Membership.objects.filter(user=ada, team__personal=True).exists()
    assert AuditEntry.objects.filter(team=owned.team, action="team.created", actor="ada").exists()
    assert Client().login(username="ada", password="a long lab passphrase")


def test_refuses_weak_passwords_and_existing_logins(monkeypatch):
    with pytest.raises(CommandError, match="too short|too common"):
        create_owner(monkeypatch, "short", "bea", "--team", "Lab")
    assert not get_user_model().objects.filter(username="bea").exists()
    create_owner(monkeypatch, "a long lab passphrase", "bea", "--team", "Lab")
    with pytest.raises(CommandError, match="already exists"):
        create_owner(monkeypatch, "a long lab passphrase", "bea", "--team", "Other")


def test_gives_a_password_to_a_user_made_by_create_api_key(monkeypatch):
    call_command("create_api_key", "cy", stdout=io.StringIO())
    create_owner(monkeypatch, "a long lab passphrase", "cy", "--team", "Lab")
    assert Client().login(username="cy", password="a long lab passphrase")
