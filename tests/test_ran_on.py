"""A cluster profile's job records the member profile that ran it: in the API and on the job page."""

from __future__ import annotations

from django.urls import reverse

from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL


def test_a_cluster_job_says_which_member_ran_it(api_for, users, run_jobs, client):
    lab = users["lab"]
    # Both members are Aer simulators (their executors are both called aer_simulator): only the
    # member's profile name tells them apart.
    for name in ("sim-a", "sim-b"):
        ExecutorProfile.objects.create(team=lab, name=name, kind="local")
    alice = api_for("alice")
    pair = {"name": "pair", "kind": "cluster", "members": ["sim-a", "sim-b"], "selector": "cyclic", "team": lab.id}
    assert alice.post("/profiles", pair).status_code == 201
    body = {"profile": "pair", "circuits": [{"qasm": BELL}], "shots": 300}
    ids = [alice.post("/jobs", body).json()["id"] for _ in range(2)]
    plain = alice.post("/jobs", {**body, "profile": "local"}).json()["id"]
    assert alice.get(f"/jobs/{ids[0]}").json()["ran_on"] == ""  # not run yet
    run_jobs()

    details = [alice.get(f"/jobs/{job_id}").json() for job_id in ids]
    assert [d["status"] for d in details] == ["done", "done"], [d["error"] for d in details]
    assert sorted(d["ran_on"] for d in details) == ["sim-a", "sim-b"]  # cyclic: one each
    for detail in details:
        done = detail["events"][-1]
        assert done["kind"] == "done" and done["data"]["ran_on"] == detail["ran_on"]
        assert done["message"].endswith(f" on {detail['ran_on']}")
    listed = {item["id"]: item["ran_on"] for item in alice.get("/jobs").json()["items"]}
    assert listed == {ids[0]: details[0]["ran_on"], ids[1]: details[1]["ran_on"], plain: ""}

    client.force_login(users["bob"])
    page = client.get(reverse("job-detail", args=[ids[0]])).content.decode()
    assert f'<dd id="ran-on" title="the cluster member that ran it">{details[0]["ran_on"]}</dd>' in page
    assert 'id="ran-on"' not in client.get(reverse("job-detail", args=[plain])).content.decode()
