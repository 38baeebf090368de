"""/api/v1/teams: create, members, roles, leave, the last owner, and who sees what."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from qportal.accounts.models import ApiKey, AuditEntry, Membership
from tests.conftest import ApiClient, make_user

pytestmark = pytest.mark.django_db


def api(client, user) -> ApiClient:
    return ApiClient(client, ApiKey.issue(user)[1])


def actions(team_id) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in AuditEntry.objects.filter(team_id=team_id).order_by("id")]


def test_create_add_change_remove_and_leave(client, users):
    alice, dora = api(client, users["alice"]), make_user("dora")
    made = alice.post("/teams", {"name": "  Optics   lab "})
    assert made.status_code == 201, made.content
    team = made.json()
    assert (team["name"], team["role"]) == ("Optics lab", "owner")
    assert team["members"] == [{"username": "alice", "role": "owner"}]
    tid = team["id"]
    assert {t["id"]: t["role"] for t in alice.get("/teams").json()}[tid] == "owner"

    added = alice.post(f"/teams/{tid}/members", {"username": "dora", "role": "viewer"})
    assert added.status_code == 201 and added.json() == {"username": "dora", "role": "viewer"}
    assert Membership.objects.get(team_id=tid, user=dora).role == "viewer"
    assert alice.post(f"/teams/{tid}/members", {"username": "dora", "role": "member"}).status_code == 409

    changed = alice.put(f"/teams/{tid}/members/dora", {"role": "member"})
    assert changed.status_code == 200 and changed.json()["role"] == "member"
    renamed = alice.client.patch(
        f"/api/v1/teams/{tid}", {"name": "Photonics"}, content_type="application/json", **alice.headers
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Photonics"

    dora_api = api(client, dora)
    assert dora_api.get(f"/teams/{tid}").json()["members"] == [
        {"username": "alice", "role": "owner"},
        {"username": "dora", "role": "member"},
    ]
    assert dora_api.delete(f"/teams/{tid}/members/dora").status_code == 204  # she leaves
    assert not Membership.objects.filter(team_id=tid, user=dora).exists()
    assert dora_api.get(f"/teams/{tid}").status_code == 404

    alice.post(f"/teams/{tid}/members", {"username": "bob", "role": "member"})
    assert alice.delete(f"/teams/{tid}/members/bob").status_code == 204
    assert actions(tid) == [
        ("alice", "team.created", "Optics lab"),
        ("alice", "member.joined", "dora"),
        ("alice", "member.role_changed", "dora"),
        ("alice", "team.renamed", "Photonics"),
        ("dora", "member.left", "dora"),
        ("alice", "member.joined", "bob"),
        ("alice", "member.removed", "bob"),
    ]
    audit = alice.get(f"/teams/{tid}/audit").json()["items"]
    assert audit[0]["action"] == "member.removed" and audit[-1]["action"] == "team.created"


def test_the_last_owner_cannot_leave_be_demoted_or_removed(client, users):
    alice, lab = api(client, users["alice"]), users["lab"].id
    for answer in (
        alice.delete(f"/teams/{lab}/members/alice"),
        alice.put(f"/teams/{lab}/members/alice", {"role": "member"}),
    ):
        assert answer.status_code == 409 and "last owner" in answer.json()["detail"]
    assert Membership.objects.get(team_id=lab, user=users["alice"]).role == "owner"
    assert alice.put(f"/teams/{lab}/members/bob", {"role": "owner"}).status_code == 200
    bob = api(client, users["bob"])
    assert bob.delete(f"/teams/{lab}/members/alice").status_code == 204  # two owners: one may go
    assert bob.delete(f"/teams/{lab}/members/bob").status_code == 409  # now bob is the last
    assert actions(lab)[-1] == ("bob", "member.removed", "alice")


def test_outsiders_get_404_viewers_and_members_403(client, users):
    lab = users["lab"].id
    charlie = api(client, users["charlie"])
    for answer in (
        charlie.get(f"/teams/{lab}"),
        charlie.post(f"/teams/{lab}/members", {"username": "charlie", "role": "owner"}),
        charlie.put(f"/teams/{lab}/members/bob", {"role": "viewer"}),
        charlie.delete(f"/teams/{lab}/members/bob"),
        charlie.get(f"/teams/{lab}/invitations"),
        charlie.post(f"/teams/{lab}/invitations", {"email": "x@example.org", "role": "member"}),
        charlie.get("/teams/999999"),
    ):
        assert answer.status_code == 404, answer.content
    assert lab not in [t["id"] for t in charlie.get("/teams").json()]
    for name in ("viola", "bob"):
        other = api(client, users[name])
        assert other.get(f"/teams/{lab}").status_code == 200
        for answer in (
            other.post(f"/teams/{lab}/members", {"username": "charlie", "role": "viewer"}),
            other.put(f"/teams/{lab}/members/viola", {"role": "owner"}),
            other.delete(f"/teams/{lab}/members/alice"),
            other.post(f"/teams/{lab}/invitations", {"email": "x@example.org", "role": "member"}),
        ):
            assert answer.status_code == 403, answer.content
    assert Membership.objects.filter(team_id=lab).count() == 3
    assert not AuditEntry.objects.filter(team_id=lab).exists()


def test_bad_input_is_400_and_stores_nothing(client, users):
    alice, lab = api(client, users["alice"]), users["lab"].id
    assert alice.post(f"/teams/{lab}/members", {"username": "charlie", "role": "admin"}).status_code == 400
    assert "role must be one of" in alice.put(f"/teams/{lab}/members/bob", {"role": "boss"}).json()["detail"]
    assert alice.post(f"/teams/{lab}/members", {"username": "nobody", "role": "member"}).status_code == 400
    assert alice.post("/teams", {"name": "   "}).status_code == 400
    assert alice.post("/teams", {"name": "x" * 101}).status_code == 400
    assert alice.put(f"/teams/{lab}/members/nobody", {"role": "member"}).status_code == 404
    personal = next(t["id"] for t in alice.get("/teams").json() if t["personal"])
    assert alice.post(f"/teams/{personal}/members", {"username": "bob", "role": "member"}).status_code == 409
    assert Membership.objects.filter(team_id=lab).count() == 3
    assert get_user_model().objects.filter(username="nobody").count() == 0
    assert not AuditEntry.objects.filter(team_id=lab).exists()
