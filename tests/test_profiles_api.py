"""Profiles: built-ins for everyone, team profiles validated on save, clusters, backends."""

from __future__ import annotations

import pytest

from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL


def test_fresh_install_has_local_and_fake_manila_for_everyone(api_for):
    names = {p["name"]: p for p in api_for("charlie").get("/profiles").json()}
    assert {"local", "fake_manila"} <= set(names)
    assert names["fake_manila"]["max_qubits"] == 5 and names["fake_manila"]["builtin"] is True
    assert names["local"]["kind"] == "local"


def test_create_team_profile_and_use_it(api_for, users, run_jobs):
    alice = api_for("alice")
    resp = alice.post(
        "/profiles", {"name": "quick", "kind": "local", "shots": 200, "team": users["lab"].id, "options": {"seed": 7}}
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["max_qubits"] >= 20
    job = alice.post("/jobs", {"profile": "quick", "circuits": [{"qasm": BELL}]}).json()
    assert job["shots"] == 200 and job["team"] == users["lab"].id
    run_jobs()
    assert sum(alice.results(job["id"])[0]["counts"].values()) == 200
    assert "quick" in {p["name"] for p in api_for("bob").get("/profiles").json()}
    assert "quick" not in {p["name"] for p in api_for("charlie").get("/profiles").json()}
    assert api_for("charlie").post("/jobs", {"profile": "quick", "circuits": [{"qasm": BELL}]}).status_code == 404


INVALID = {
    "bad name": ({"name": "Has Spaces", "kind": "local"}, "name"),
    "unknown kind": ({"name": "x", "kind": "quantum_annealer"}, "kind"),
    "unknown fake backend": ({"name": "x", "kind": "fake", "backend": "fake_nowhere"}, "fake_nowhere"),
    "shots": ({"name": "x", "kind": "local", "shots": 0}, "shots"),
    "unknown option": ({"name": "x", "kind": "local", "options": {"turbo": True}}, "turbo"),
    "option range": (
        {"name": "x", "kind": "fake", "backend": "fake_manila", "options": {"optimization_level": 7}},
        "optimization_level",
    ),
    "cloud without credential": ({"name": "x", "kind": "ibm_cloud", "backend": "ibm_brisbane"}, "credential"),
    "empty cluster": ({"name": "x", "kind": "cluster", "members": []}, "member"),
    "cluster of unknown": ({"name": "x", "kind": "cluster", "members": ["nope"]}, "nope"),
    "5000 members": ({"name": "x", "kind": "cluster", "members": ["local"] * 5000}, "at most 16 member"),
    "repeated member": ({"name": "x", "kind": "cluster", "members": ["local", "local"]}, "each member profile once"),
    "bad selector": ({"name": "x", "kind": "cluster", "members": ["local"], "selector": "loudest"}, "selector"),
    "mode": ({"name": "x", "kind": "local", "mode": "forever"}, "mode"),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_invalid_profiles_are_refused_and_not_stored(api_for, case):
    body, needle = INVALID[case]
    before = ExecutorProfile.objects.count()
    resp = api_for("alice").post("/profiles", body)
    assert resp.status_code in (400, 404), resp.content
    assert needle in resp.json()["detail"]
    assert ExecutorProfile.objects.count() == before


def test_duplicate_name_is_409_and_viewer_403_and_outsider_404(api_for, users):
    lab = users["lab"].id
    assert api_for("alice").post("/profiles", {"name": "dup", "kind": "local", "team": lab}).status_code == 201
    assert api_for("bob").post("/profiles", {"name": "dup", "kind": "local", "team": lab}).status_code == 409
    assert api_for("viola").post("/profiles", {"name": "mine", "kind": "local", "team": lab}).status_code == 403
    assert api_for("charlie").post("/profiles", {"name": "mine", "kind": "local", "team": lab}).status_code == 404
    profile_id = ExecutorProfile.objects.get(name="dup").id
    assert api_for("charlie").put(f"/profiles/{profile_id}", {"name": "dup", "kind": "local"}).status_code == 404
    builtin = ExecutorProfile.objects.get(name="local", team=None).id
    assert (
        api_for("alice").put(f"/profiles/{builtin}", {"name": "local", "kind": "local", "shots": 5}).status_code == 404
    )


def test_update_profile(api_for, users):
    alice = api_for("alice")
    created = alice.post("/profiles", {"name": "tune", "kind": "local", "team": users["lab"].id}).json()
    resp = alice.put(
        f"/profiles/{created['id']}", {"name": "tune", "kind": "fake", "backend": "fake_lima", "shots": 300}
    )
    assert resp.status_code == 200, resp.content
    assert (resp.json()["kind"], resp.json()["max_qubits"], resp.json()["shots"]) == ("fake", 5, 300)


def test_backends_endpoint(api_for):
    api = api_for("alice")
    fake = api.get("/backends", profile="fake_manila").json()
    assert fake["selected"] == "fake_manila"
    assert {"name": "fake_manila", "num_qubits": 5} in [
        {k: b[k] for k in ("name", "num_qubits")} for b in fake["backends"]
    ]
    assert api.get("/backends", profile="local").json()["backends"][0]["num_qubits"] >= 20
    assert api.get("/backends", profile="nope").status_code == 404


def test_cluster_profile_runs_jobs_on_its_members_in_turn(api_for, users, run_jobs):
    alice = api_for("alice")
    resp = alice.post(
        "/profiles", {"name": "pair", "kind": "cluster", "members": ["local", "fake_manila"], "team": users["lab"].id}
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["max_qubits"] == 5  # the smallest member bounds what the cluster accepts
    too_big = BELL.replace("qreg q[2];\ncreg c[2];", "qreg q[6];\ncreg c[6];")
    assert alice.post("/jobs", {"profile": "pair", "circuits": [{"qasm": too_big}]}).status_code == 400
    ids = [
        alice.post("/jobs", {"profile": "pair", "circuits": [{"qasm": BELL}], "shots": 500}).json()["id"]
        for _ in range(2)
    ]
    run_jobs()
    for job_id in ids:
        job = alice.job_with_results(job_id)
        assert job["status"] == "done", job["error"]
        counts = job["results"][0]["counts"]
        assert counts.get("00", 0) + counts.get("11", 0) >= 400
    executors = [alice.get(f"/jobs/{job_id}").json()["events"][-1]["data"]["executor"] for job_id in ids]
    assert executors[0] != executors[1], executors  # cyclic: the second job went to the other member


def test_pennylane_device_profile_runs_jobs(api_for, users, run_jobs):
    alice = api_for("alice")
    assert alice.post("/profiles", {"name": "pl", "kind": "pennylane", "backend": "no.such.device"}).status_code == 400
    resp = alice.post(
        "/profiles", {"name": "pl", "kind": "pennylane", "backend": "default.qubit", "options": {"max_jobs": 2}}
    )
    assert resp.status_code == 201, resp.content
    job_id = alice.post("/jobs", {"profile": "pl", "circuits": [{"qasm": BELL}], "shots": 800}).json()["id"]
    run_jobs()
    job = alice.job_with_results(job_id)
    assert job["status"] == "done", job["error"]
    counts = job["results"][0]["counts"]
    assert sum(counts.values()) == 800 and set(counts) <= {"00", "11"}


def test_delete_profile_owners_and_members_only(api_for, users):
    lab = users["lab"].id
    ids = [api_for("alice").post("/profiles", {"name": n, "kind": "local", "team": lab}).json()["id"] for n in "ab"]
    builtin = ExecutorProfile.objects.get(name="local", team=None).id
    viewer = api_for("viola").delete(f"/profiles/{ids[0]}")
    assert viewer.status_code == 403 and "viewer" in viewer.json()["detail"]
    assert api_for("charlie").delete(f"/profiles/{ids[0]}").status_code == 404
    refused = api_for("alice").delete(f"/profiles/{builtin}")
    assert refused.status_code == 403 and "built-in profiles cannot be deleted" in refused.json()["detail"]
    assert api_for("alice").delete("/profiles/999999").status_code == 404
    assert ExecutorProfile.objects.filter(id__in=[*ids, builtin]).count() == 3  # nothing deleted on refusal

    assert api_for("bob").delete(f"/profiles/{ids[0]}").status_code == 204
    assert api_for("alice").delete(f"/profiles/{ids[1]}").status_code == 204
    assert not ExecutorProfile.objects.filter(id__in=ids).exists()
    assert not {"a", "b"} & {p["name"] for p in api_for("bob").get("/profiles").json()}
    assert api_for("bob").delete(f"/profiles/{ids[0]}").status_code == 404


def test_a_profile_jobs_use_is_409_with_their_count_and_stays(api_for, users):
    from qportal.jobs.models import Job

    alice = api_for("alice")
    profile = alice.post("/profiles", {"name": "busy", "kind": "local", "team": users["lab"].id}).json()
    for _ in range(2):
        assert alice.post("/jobs", {"profile": "busy", "circuits": [{"qasm": BELL}]}).status_code == 201
    resp = alice.delete(f"/profiles/{profile['id']}")
    assert resp.status_code == 409 and "2 jobs use profile 'busy'" in resp.json()["detail"]
    assert ExecutorProfile.objects.filter(id=profile["id"]).exists()
    assert Job.objects.filter(profile_id=profile["id"]).count() == 2


def test_a_cluster_member_is_409_and_stays(api_for, users):
    alice = api_for("alice")
    lab = users["lab"].id
    member = alice.post("/profiles", {"name": "m", "kind": "local", "team": lab}).json()
    alice.post("/profiles", {"name": "duo", "kind": "cluster", "members": ["m", "local"], "team": lab})
    resp = alice.delete(f"/profiles/{member['id']}")
    assert resp.status_code == 409 and "member of cluster duo" in resp.json()["detail"]
    assert ExecutorProfile.objects.filter(id=member["id"]).exists()


def test_a_job_submitted_during_the_delete_keeps_the_profile(api_for, users, monkeypatch):
    """The count said no jobs, but one arrived before the DELETE: Job.profile's PROTECT refuses."""
    from qportal.jobs.models import Job
    from qportal.profiles import services

    alice = api_for("alice")
    profile = alice.post("/profiles", {"name": "racy", "kind": "local", "team": users["lab"].id}).json()
    alice.post("/jobs", {"profile": "racy", "circuits": [{"qasm": BELL}]})
    real, calls = services._refusal, []
    monkeypatch.setattr(services, "_refusal", lambda p: real(p) if calls.append(p) or len(calls) > 1 else None)
    resp = alice.delete(f"/profiles/{profile['id']}")
    assert resp.status_code == 409 and "1 job uses profile 'racy'" in resp.json()["detail"], resp.content
    assert Job.objects.filter(profile_id=profile["id"]).count() == 1
