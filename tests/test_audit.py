"""A team's audit trail: what was done, by whom, in the same transaction as the change, for owners only."""

import pytest

from qportal.accounts.models import AuditEntry
from tests.circuits import BELL

pytestmark = pytest.mark.django_db

TOKEN = "a-secret-ibm-token-0123456789"


def trail(api, team_id) -> list[tuple[str, str, str]]:
    resp = api.get(f"/teams/{team_id}/audit")
    assert resp.status_code == 200, resp.content
    return [(e["actor"], e["action"], e["target"]) for e in resp.json()["items"]]


def test_credentials_profiles_and_jobs_are_written_down_newest_first(api_for, users, run_jobs):
    lab = users["lab"].id
    alice, bob = api_for("alice"), api_for("bob")
    cred = bob.post("/credentials", {"name": "ibm", "token": TOKEN, "team": lab}).json()
    assert bob.put(f"/credentials/{cred['id']}", {"name": "ibm2", "token": TOKEN + "x"}).status_code == 200
    assert bob.post(f"/credentials/{cred['id']}/check").status_code == 202
    profile = bob.post("/profiles", {"name": "quick", "kind": "local", "team": lab}).json()
    assert bob.put(f"/profiles/{profile['id']}", {"name": "quick", "kind": "local", "shots": 50}).status_code == 200
    job = bob.post("/jobs", {"profile": "quick", "team": lab, "circuits": [{"qasm": BELL}], "name": "n1"}).json()
    assert bob.post(f"/jobs/{job['id']}/cancel").status_code == 200
    assert bob.post(f"/jobs/{job['id']}/cancel").status_code == 200  # idempotent: written once
    assert bob.delete(f"/jobs/{job['id']}").status_code == 204
    assert bob.delete(f"/profiles/{profile['id']}").status_code == 204
    assert bob.delete(f"/credentials/{cred['id']}").status_code == 204
    label = f"n1 ({job['id'][:8]})"
    assert trail(alice, lab) == [
        ("bob", "credential.deleted", "ibm2"),
        ("bob", "profile.deleted", "quick"),
        ("bob", "job.deleted", label),
        ("bob", "job.cancelled", label),
        ("bob", "profile.updated", "quick"),
        ("bob", "profile.created", "quick"),
        ("bob", "credential.check_requested", "ibm2"),
        ("bob", "credential.updated", "ibm2"),
        ("bob", "credential.created", "ibm"),
    ]
    updated = AuditEntry.objects.get(action="credential.updated")
    assert updated.data == {"token": "replaced", "renamed_from": "ibm"}
    assert not any(TOKEN in str(e.data) for e in AuditEntry.objects.all())


def test_a_refused_change_leaves_no_entry(api_for, users):
    lab = users["lab"].id
    bob = api_for("bob")
    assert bob.post("/profiles", {"name": "dup", "kind": "local", "team": lab}).status_code == 201
    assert bob.post("/profiles", {"name": "dup", "kind": "local", "team": lab}).status_code == 409
    assert api_for("viola").post("/profiles", {"name": "v", "kind": "local", "team": lab}).status_code == 403
    assert [e[1] for e in trail(api_for("alice"), lab)] == ["profile.created"]


def test_a_force_failed_job_names_its_owner_and_reason(api_for, users):
    lab = users["lab"].id
    job = api_for("bob").post("/jobs", {"profile": "local", "team": lab, "circuits": [{"qasm": BELL}]}).json()
    assert api_for("alice").post(f"/jobs/{job['id']}/fail", {"reason": "stuck"}).status_code == 200
    (entry,) = AuditEntry.objects.filter(action="job.force_failed")
    assert (entry.actor, entry.data) == ("alice", {"job": job["id"], "reason": "stuck"})


def test_only_owners_read_it_and_outsiders_get_a_404(api_for, users):
    lab = users["lab"].id
    for name in ("bob", "viola"):  # member, viewer
        resp = api_for(name).get(f"/teams/{lab}/audit")
        assert resp.status_code == 403 and "owners" in resp.json()["detail"]
    assert api_for("charlie").get(f"/teams/{lab}/audit").status_code == 404
    assert api_for("alice").get("/teams/999999/audit").status_code == 404
