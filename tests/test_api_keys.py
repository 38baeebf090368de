"""Self-service API keys over REST: create (shown once), list, revoke, expiry, read-only, team scope."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from qportal.accounts.models import ApiKey, AuditEntry, Membership, Role, Team, hash_api_key
from qportal.jobs.models import Job
from tests.circuits import BELL
from tests.conftest import ApiClient


@pytest.fixture
def keyed(client):
    def make(key: str) -> ApiClient:
        return ApiClient(client, key)

    return make


def new_key(api: ApiClient, **body) -> dict:
    answer = api.post("/keys", {"name": "script", **body})
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_a_new_key_works_is_shown_once_and_listed_by_prefix(users, api_for, keyed):
    alice = api_for("alice")
    answer = alice.post("/keys", {"name": "notebook"})
    assert answer.status_code == 201 and answer["Cache-Control"] == "no-store"
    made = answer.json()
    assert re.fullmatch(r"qp_[0-9a-f]{8}_\S{20,}", made["key"])
    assert made["prefix"] == made["key"][:12] + "…"
    row = ApiKey.objects.get(id=made["id"])
    assert row.hashed == hash_api_key(made["key"]) and made["key"] not in (row.hashed, row.lookup)
    assert (made["status"], made["team"], made["read_only"], made["expires"]) == ("active", None, False, None)

    mine = keyed(made["key"])
    assert mine.get("/jobs").status_code == 200
    listed = mine.get("/keys")
    assert listed.status_code == 200
    assert made["key"] not in listed.content.decode()
    entry = next(k for k in listed.json() if k["id"] == made["id"])
    assert entry["prefix"] == made["prefix"] and entry["name"] == "notebook" and entry["last_used"] is not None
    assert set(entry) >= {"prefix", "name", "created", "last_used", "expires", "team", "read_only", "status"}
    assert "key" not in entry and "hashed" not in entry


def test_a_revoked_key_is_refused_at_once(users, api_for, keyed):
    alice = api_for("alice")
    made = new_key(alice)
    mine = keyed(made["key"])
    assert mine.get("/jobs").status_code == 200
    assert alice.delete(f"/keys/{made['id']}").status_code == 204
    refused = mine.get("/jobs")
    assert refused.status_code == 401 and refused.json()["detail"] == "API key revoked"
    assert ApiKey.objects.get(id=made["id"]).revoked_at is not None
    listed = next(k for k in alice.get("/keys").json() if k["id"] == made["id"])
    assert listed["status"] == "revoked" and listed["revoked_at"]
    assert alice.delete(f"/keys/{made['id']}").status_code == 204  # idempotent


def test_a_key_can_revoke_itself(users, api_for, keyed):
    made = new_key(api_for("alice"))
    mine = keyed(made["key"])
    assert mine.delete(f"/keys/{made['id']}").status_code == 204
    assert mine.get("/keys").status_code == 401


def test_expiry_by_date_or_days_and_an_expired_key_gets_401(users, api_for, keyed):
    alice = api_for("alice")
    when = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    by_date = new_key(alice, expires=when.isoformat())
    assert ApiKey.objects.get(id=by_date["id"]).expires == when
    by_days = new_key(alice, expires=30)
    expires = ApiKey.objects.get(id=by_days["id"]).expires
    assert timedelta(days=29, hours=23) < expires - timezone.now() <= timedelta(days=30)

    ApiKey.objects.filter(id=by_days["id"]).update(expires=timezone.now() - timedelta(seconds=1))
    refused = keyed(by_days["key"]).get("/jobs")
    assert refused.status_code == 401 and refused.json()["detail"] == "API key expired"
    assert next(k for k in alice.get("/keys").json() if k["id"] == by_days["id"])["status"] == "expired"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": ""}, "name must be 1-100 characters"),
        ({"name": "   "}, "name must be 1-100 characters"),
        ({"name": "x" * 101}, "name must be 1-100 characters"),
        ({"name": "k", "expires": "2001-01-01T00:00:00Z"}, "expires must be in the future"),
        ({"name": "k", "expires": 0}, "expires in days must be between 1 and 3650"),
        ({"name": "k", "expires": 99999}, "expires in days must be between 1 and 3650"),
        ({"name": "k", "expires": "2099-01-01T00:00:00"}, "expires needs a time zone"),
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(users, api_for, body, message):
    alice = api_for("alice")
    before = ApiKey.objects.count()
    answer = alice.post("/keys", body)
    assert answer.status_code == 400, answer.content
    assert answer.json()["detail"].startswith(message)
    assert ApiKey.objects.count() == before


def _routes():
    from qportal.api import api

    for path, methods in api.get_openapi_schema()["paths"].items():
        for method in methods:
            yield method.upper(), re.sub(r"\{[^}]+\}", "1", path)


def test_a_read_only_key_is_refused_every_write_route_and_reads(users, api_for, keyed):
    made = new_key(api_for("alice"), read_only=True)
    mine = keyed(made["key"])
    writes = [(m, p) for m, p in _routes() if m not in ("GET", "HEAD", "OPTIONS")]
    assert len(writes) >= 10 and ("POST", "/api/v1/keys") in writes and ("DELETE", "/api/v1/keys/1") in writes
    for method, path in writes:
        answer = mine.client.generic(method, path, "{}", content_type="application/json", **mine.headers)
        assert answer.status_code == 403, (method, path, answer.content)
        assert answer.json()["detail"] == "this API key is read-only"
    for path in ("/jobs", "/profiles", "/credentials", "/keys", f"/teams/{users['lab'].id}/keys"):
        assert mine.get(path).status_code == 200, path
    assert ApiKey.objects.filter(user=users["alice"]).count() == 2  # the fixture's and this one: nothing made


def _team_key(api: ApiClient, team: Team, **body) -> dict:
    return new_key(api, team=team.id, **body)


def test_a_team_scoped_key_sees_and_writes_only_its_team(users, api_for, keyed):
    alice = users["alice"]
    other = Team.objects.create(name="other")
    Membership.objects.create(team=other, user=alice, role=Role.OWNER)
    made = _team_key(api_for("alice"), users["lab"])
    scoped = keyed(made["key"])
    assert scoped.get(f"/teams/{users['lab'].id}/audit").status_code == 200
    assert scoped.get(f"/teams/{other.id}/audit").status_code == 404
    assert scoped.get(f"/teams/{other.id}/keys").status_code == 404
    # Its default team is its own: a profile made without a team lands in lab, never elsewhere.
    profile = scoped.post("/profiles", {"name": "scoped-sim", "kind": "local"})
    assert profile.status_code == 201, profile.content
    assert profile.json()["team"] == users["lab"].id
    assert scoped.post("/profiles", {"name": "x-sim", "kind": "local", "team": other.id}).status_code == 404
    assert {p["team"] for p in scoped.get("/profiles").json()} <= {None, users["lab"].id}
    job = scoped.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]})
    assert job.status_code == 201, job.content
    assert Job.objects.get(id=job.json()["id"]).team_id == users["lab"].id
    assert scoped.post("/jobs", {"profile": "local", "team": other.id, "circuits": [{"qasm": BELL}]}).status_code == 404
    personal = api_for("alice").post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()
    assert scoped.get(f"/jobs/{personal['id']}").status_code == 404
    listed = scoped.get("/jobs").json()["items"]
    assert listed and all(j["team"] == users["lab"].id for j in listed)
    # Nor can it make a key wider than itself.
    assert scoped.post("/keys", {"name": "wider", "team": other.id}).status_code == 404
    child = new_key(scoped, name="child")
    assert child["team"] == users["lab"].id
    assert {k["team"] for k in scoped.get("/keys").json()} == {users["lab"].id}


def test_a_key_made_with_a_key_keeps_its_expiry(users, api_for, keyed):
    parent = new_key(api_for("alice"), expires=3)
    mine = keyed(parent["key"])
    assert mine.post("/keys", {"name": "longer", "expires": 30}).status_code == 400
    assert new_key(mine, name="same")["expires"] == parent["expires"]


def test_owner_lists_and_revokes_members_team_keys(users, api_for, keyed):
    lab = users["lab"]
    bob_key = _team_key(api_for("bob"), lab, name="bob-ci")
    new_key(api_for("bob"), name="bob-personal")
    owner = api_for("alice")
    listed = owner.get(f"/teams/{lab.id}/keys")
    assert listed.status_code == 200
    assert [(k["user"], k["name"]) for k in listed.json()] == [("bob", "bob-ci")]
    assert bob_key["key"] not in listed.content.decode()

    viola = api_for("viola")
    assert viola.get(f"/teams/{lab.id}/keys").status_code == 403
    assert viola.delete(f"/keys/{bob_key['id']}").status_code == 404
    assert keyed(bob_key["key"]).get("/jobs").status_code == 200

    assert owner.delete(f"/keys/{bob_key['id']}").status_code == 204
    assert keyed(bob_key["key"]).get("/jobs").status_code == 401
    entries = AuditEntry.objects.filter(team=lab, action__startswith="key.").order_by("id")
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("bob", "key.created", "bob-ci"),
        ("alice", "key.revoked", "bob-ci"),
    ]
    assert entries[0].data["prefix"] == bob_key["prefix"] and entries[1].data["owner"] == "bob"
    assert all(bob_key["key"] not in str(e.data) for e in entries)
    assert not AuditEntry.objects.filter(target="bob-personal").exists()  # unscoped keys are the user's own


def test_a_member_cannot_revoke_another_members_key(users, api_for, keyed):
    alice_key = _team_key(api_for("alice"), users["lab"])
    assert api_for("bob").delete(f"/keys/{alice_key['id']}").status_code == 404
    assert api_for("bob").get(f"/teams/{users['lab'].id}/keys").status_code == 403
    assert keyed(alice_key["key"]).get("/jobs").status_code == 200


def test_an_outsider_gets_404_on_another_team_and_its_members_keys(users, api_for):
    lab = users["lab"]
    bob_key = _team_key(api_for("bob"), lab)
    charlie = api_for("charlie")
    assert charlie.get(f"/teams/{lab.id}/keys").status_code == 404
    assert charlie.delete(f"/keys/{bob_key['id']}").status_code == 404
    assert charlie.post("/keys", {"name": "in", "team": lab.id}).status_code == 404
    assert all(k["id"] != bob_key["id"] for k in charlie.get("/keys").json())
    assert ApiKey.objects.get(id=bob_key["id"]).revoked_at is None


def test_create_api_key_command_still_works(users, keyed):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_key", "alice", "--name", "cron", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    assert keyed(key).get("/keys").status_code == 200
