"""The Keys page: create (the key shown once), revoke after asking, owners see members' team keys."""

from __future__ import annotations

import re

import pytest

from qportal.accounts.models import ApiKey, AuditEntry


@pytest.fixture
def logged_in(users, client):
    def login(username: str):
        client.force_login(users[username])
        return client

    return login


def test_create_shows_the_key_once_and_it_works(users, logged_in, client):
    page = logged_in("bob")
    answer = page.post("/keys/", {"name": "laptop", "team": users["lab"].id, "expires": "7", "read_only": "on"})
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    text = re.search(r'id="new-key-value" value="(qp_[^"]+)"', answer.content.decode()).group(1)
    row = ApiKey.objects.get(name="laptop")
    assert row.read_only and row.team_id == users["lab"].id and row.expires is not None
    again = page.get("/keys/")
    assert text not in again.content.decode() and row.prefix in again.content.decode()
    assert client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {text}").status_code == 200
    assert AuditEntry.objects.filter(team=users["lab"], action="key.created", target="laptop").exists()


def test_a_bad_name_is_a_400_and_makes_nothing(users, logged_in):
    answer = logged_in("bob").post("/keys/", {"name": "", "expires": "0"})
    assert answer.status_code == 400 and not ApiKey.objects.filter(user=users["bob"]).exists()


def test_revoke_asks_first_then_revokes(users, logged_in):
    key, _ = ApiKey.issue(users["bob"], "old")
    page = logged_in("bob")
    asked = page.post(f"/keys/{key.id}/revoke/")
    assert asked.status_code == 200 and b"confirm-revoke" in asked.content
    assert ApiKey.objects.get(id=key.id).revoked_at is None
    done = page.post(f"/keys/{key.id}/revoke/", {"confirm": "yes"})
    assert done.status_code == 302 and ApiKey.objects.get(id=key.id).revoked_at is not None


def test_owner_sees_and_revokes_members_team_keys_others_get_404(users, logged_in, client):
    bob_key, _ = ApiKey.issue(users["bob"], "bob-ci", team_id=users["lab"].id)
    ApiKey.issue(users["bob"], "bob-own")
    owner_page = logged_in("alice").get("/keys/").content.decode()
    assert "bob-ci" in owner_page and "bob-own" not in owner_page
    for outsider in ("charlie", "viola"):
        client.force_login(users[outsider])
        assert "bob-ci" not in client.get("/keys/").content.decode()
        assert client.post(f"/keys/{bob_key.id}/revoke/", {"confirm": "yes"}).status_code == 404
    assert ApiKey.objects.get(id=bob_key.id).revoked_at is None
    client.force_login(users["alice"])
    assert client.post(f"/keys/{bob_key.id}/revoke/", {"confirm": "yes"}).status_code == 302
    assert ApiKey.objects.get(id=bob_key.id).revoked_at is not None


def test_the_page_needs_a_login(db, client):
    assert client.get("/keys/").status_code == 302
