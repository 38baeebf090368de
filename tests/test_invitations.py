"""Invitations (one-time links, expiry, the wrong user), password reset by email, open sign-up."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import clear_url_caches
from django.utils import timezone

from qportal.accounts.models import ApiKey, AuditEntry, Invitation, Membership
from tests.conftest import ApiClient, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "a long new passphrase 42"


def invite(client, owner, team_id, **body):
    answer = ApiClient(client, ApiKey.issue(owner)[1]).post(f"/teams/{team_id}/invitations", body)
    assert answer.status_code == 201, answer.content
    return answer.json()


def path_of(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def test_an_emailed_link_makes_an_account_in_the_team_once(client, users):
    lab = users["lab"]
    made = invite(client, users["alice"], lab.id, email="nova@lab.example", role="viewer")
    assert made["emailed"] is True and "token" not in made and made["link"].startswith("http://testserver/invite/")
    token = made["link"].rstrip("/").rsplit("/", 1)[1]
    stored = Invitation.objects.get()
    assert stored.token_hash != token and token not in str(stored.__dict__)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nova@lab.example"]
    assert made["link"] in mail.outbox[0].body and "lab" in mail.outbox[0].subject

    page = Client().get(path_of(made["link"]))
    assert page.status_code == 200 and b"Create account and join" in page.content
    mismatch = Client().post(path_of(made["link"]), {"username": "nova", "password1": PASSWORD, "password2": "other"})
    assert mismatch.status_code == 400 and not get_user_model().objects.filter(username="nova").exists()

    browser = Client()
    joined = browser.post(path_of(made["link"]), {"username": "nova", "password1": PASSWORD, "password2": PASSWORD})
    assert joined.status_code == 302 and joined["Location"] == f"/teams/{lab.id}/"
    nova = get_user_model().objects.get(username="nova")
    assert nova.email == "nova@lab.example" and nova.check_password(PASSWORD)
    assert Membership.objects.get(team=lab, user=nova).role == "viewer"
    assert browser.get(f"/teams/{lab.id}/").status_code == 200  # logged in
    entries = AuditEntry.objects.values_list("actor", "action", "target")
    assert ("alice", "member.invited", "nova@lab.example") in entries
    assert AuditEntry.objects.filter(action="member.joined", actor="nova", data__invited_by="alice").exists()

    again = Client().post(path_of(made["link"]), {"username": "nova2", "password1": PASSWORD, "password2": PASSWORD})
    assert again.status_code == 410 and b"already been used" in again.content
    assert not get_user_model().objects.filter(username="nova2").exists()


def test_expired_unknown_and_revoked_links_are_clear_pages(client, users):
    lab = users["lab"]
    made = invite(client, users["alice"], lab.id, email="late@lab.example", role="member")
    Invitation.objects.update(expires=timezone.now() - timedelta(seconds=1))
    answer = Client().get(path_of(made["link"]))
    assert answer.status_code == 410 and b"expired" in answer.content
    assert Client().get("/invite/not-a-token/").status_code == 410

    fresh = invite(client, users["alice"], lab.id, email="soon@lab.example", role="member")
    alice = ApiClient(client, ApiKey.issue(users["alice"])[1])
    assert alice.delete(f"/teams/{lab.id}/invitations/{fresh['id']}").status_code == 204
    assert Client().get(path_of(fresh["link"])).status_code == 410


def test_a_username_invitation_is_only_for_that_user(client, users):
    lab = users["lab"]
    made = invite(client, users["alice"], lab.id, username="charlie", role="member")
    assert made["emailed"] is False and not mail.outbox  # charlie has no address

    bob = Client()
    bob.force_login(users["bob"])
    wrong = bob.post(path_of(made["link"]))
    assert wrong.status_code == 403 and b"for charlie" in wrong.content
    dora = Client()
    dora.force_login(make_user("dora"))
    assert dora.post(path_of(made["link"])).status_code == 403
    anonymous = Client().post(path_of(made["link"]), {"username": "x", "password1": PASSWORD, "password2": PASSWORD})
    assert anonymous.status_code == 200  # asks them to log in
    assert not get_user_model().objects.filter(username="x").exists()

    charlie = Client()
    charlie.force_login(users["charlie"])
    listed = charlie.get("/teams/")
    assert b"Invitations for you" in listed.content and f'data-invitation="{made["id"]}"'.encode() in listed.content
    joined = charlie.post(f"/teams/invitations/{made['id']}/accept/")
    assert joined.status_code == 302 and Membership.objects.get(team=lab, user=users["charlie"]).role == "member"
    assert charlie.post(path_of(made["link"])).status_code == 410


def test_invitation_input_is_checked(client, users):
    alice = ApiClient(client, ApiKey.issue(users["alice"])[1])
    lab = users["lab"].id
    for body, status in (
        ({"email": "not-an-address", "role": "member"}, 400),
        ({"email": "a@b.example", "username": "charlie", "role": "member"}, 400),
        ({"role": "member"}, 400),
        ({"email": "a@b.example", "role": "chief"}, 400),
        ({"username": "ghost", "role": "member"}, 400),
        ({"username": "bob", "role": "member"}, 409),
    ):
        assert alice.post(f"/teams/{lab}/invitations", body).status_code == status, body
    assert alice.post(f"/teams/{lab}/invitations", {"email": "a@b.example", "role": "viewer"}).status_code == 201
    assert alice.post(f"/teams/{lab}/invitations", {"email": "A@b.example", "role": "member"}).status_code == 409
    assert [i["email"] for i in alice.get(f"/teams/{lab}/invitations").json()] == ["a@b.example"]
    assert Invitation.objects.count() == 1


def test_password_reset_email_link_works_once(users):
    alice = users["alice"]
    alice.email = "alice@lab.example"
    alice.save()
    client = Client()
    page = client.get("/password/reset/")
    assert page.status_code == 200 and b"Reset your password" in page.content
    sent = client.post("/password/reset/", {"email": "alice@lab.example"})
    assert sent.status_code == 302 and sent["Location"] == "/password/reset/sent/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@lab.example"]
    link = re.search(r"http://testserver(/password/reset/\S+/)", mail.outbox[0].body).group(1)

    form = client.get(link, follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/password/reset/done/"
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)

    reused = Client().get(link, follow=True)
    assert b"already been used or has expired" in reused.content
    assert Client().login(username="alice", password=PASSWORD)


def test_password_change(users):
    client = Client()
    client.force_login(users["alice"])
    assert b"Change your password" in client.get("/password/change/").content
    changed = client.post(
        "/password/change/",
        {"old_password": "correct horse battery", "new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert changed.status_code == 302
    users["alice"].refresh_from_db()
    assert users["alice"].check_password(PASSWORD)


def test_signup_is_off_by_default(db):
    assert Client().get("/signup/").status_code == 404 and b'href="/signup/"' not in Client().get("/login/").content
    assert Client().post("/signup/", {"username": "eve"}).status_code == 404
    assert not get_user_model().objects.filter(username="eve").exists()


def test_signup_when_open(settings, db):
    settings.OPEN_SIGNUP = True
    clear_url_caches()
    client = Client()
    assert b"Sign up" in client.get("/signup/").content and b'href="/signup/"' in client.get("/login/").content
    made = client.post(
        "/signup/", {"username": "eve", "email": "eve@x.example", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert made.status_code == 302
    eve = get_user_model().objects.get(username="eve")
    assert eve.check_password(PASSWORD) and not eve.is_staff
    assert Membership.objects.get(user=eve).team.personal
    assert client.get("/teams/").status_code == 200
