"""The Teams pages: who sees which controls, and what each form does."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from qportal.accounts.models import AuditEntry, Invitation, Membership

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_owner_page_has_controls_and_audit_others_read_only(users):
    lab = users["lab"].id
    owner = as_user(users["alice"]).get(f"/teams/{lab}/").content.decode()
    for control in ('id="invite-form"', 'id="rename"', 'id="audit"', "role-form", ">Remove<"):
        assert control in owner
    for name in ("bob", "viola"):
        page = as_user(users[name]).get(f"/teams/{lab}/")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-member="alice"' in html and 'id="leave"' in html
        for control in ('id="invite-form"', 'id="rename"', 'id="audit"', "role-form", ">Remove<"):
            assert control not in html, (name, control)
    assert as_user(users["charlie"]).get(f"/teams/{lab}/").status_code == 404
    assert as_user(users["charlie"]).post(f"/teams/{lab}/members/bob/remove/").status_code == 404
    assert as_user(users["viola"]).post(f"/teams/{lab}/members/bob/role/", {"role": "viewer"}).status_code == 403
    assert Membership.objects.get(team_id=lab, user=users["bob"]).role == "member"


def test_invite_shows_the_link_once_and_emails_it(users):
    lab = users["lab"].id
    page = as_user(users["alice"]).post(f"/teams/{lab}/invite/", {"invitee": "nova@lab.example", "role": "viewer"})
    assert page.status_code == 201
    link = re.search(r'value="([^"]+)" id="invitation-url"', page.content.decode()).group(1)
    assert link in mail.outbox[0].body
    assert Invitation.objects.get().role == "viewer"
    again = as_user(users["alice"]).get(f"/teams/{lab}/").content.decode()
    assert link not in again and "nova@lab.example" in again  # listed, without its link
    bad = as_user(users["alice"]).post(f"/teams/{lab}/invite/", {"invitee": "ghost", "role": "viewer"})
    assert bad.status_code == 400 and b"there is no user" in bad.content


def test_create_rename_role_remove_and_leave(users):
    alice = as_user(users["alice"])
    made = alice.post("/teams/", {"name": "Optics"})
    team = Membership.objects.get(user=users["alice"], team__name="Optics").team
    assert made["Location"] == f"/teams/{team.id}/"
    assert alice.post("/teams/", {"name": " "}).status_code == 400
    alice.post(f"/teams/{team.id}/rename/", {"name": "Photonics"})
    team.refresh_from_db()
    assert team.name == "Photonics"
    lab = users["lab"].id
    assert alice.post(f"/teams/{lab}/members/viola/role/", {"role": "member"}).status_code == 302
    assert Membership.objects.get(team_id=lab, user=users["viola"]).role == "member"
    assert alice.post(f"/teams/{lab}/members/alice/role/", {"role": "viewer"}).status_code == 409
    assert alice.post(f"/teams/{lab}/leave/").status_code == 409
    assert alice.post(f"/teams/{lab}/members/bob/remove/").status_code == 302
    assert as_user(users["viola"]).post(f"/teams/{lab}/leave/").status_code == 302
    assert set(Membership.objects.filter(team_id=lab).values_list("user__username", flat=True)) == {"alice"}
    assert list(AuditEntry.objects.filter(team_id=lab).order_by("id").values_list("action", flat=True)) == [
        "member.role_changed",
        "member.removed",
        "member.left",
    ]
    assert b'href="/teams/"' in alice.get("/").content  # the nav links the Teams page
