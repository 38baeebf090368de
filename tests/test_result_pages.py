"""``GET /api/v1/jobs/{id}/results?offset=&limit=`` (issue 14, item 3): exactly the stored results of
those circuits, bounded pages, and the access rule of the job itself."""

from __future__ import annotations

from executors.base import CircuitResult
from qportal.jobs import services, store
from qportal.jobs.models import JobCircuit
from tests.circuits import BELL


def job_with_results(user, team, count: int, stored: set[int]):
    sub = services.Submission(profile="local", circuits=[{"qasm": BELL}] * count, team=team.id)
    job = services.submit_job(user, sub)
    (claim,) = store.claim_jobs("w", 1, 30)
    item = store.load_work(claim)
    results = [CircuitResult(index=i, counts={"00": i, "11": 100 - i}, metadata={"n": i}) for i in sorted(stored)]
    store.save_circuit_results(item, results, count)
    return job


def test_a_page_is_exactly_the_stored_results_of_its_circuits(api_for, users):
    job = job_with_results(users["alice"], users["lab"], 30, stored=set(range(0, 30, 3)))
    page = api_for("bob").get(f"/jobs/{job.id}/results", offset=9, limit=5)
    assert page.status_code == 200
    body = page.json()
    assert body["count"] == 30
    assert [r["index"] for r in body["items"]] == [9, 10, 11, 12, 13]
    rows = {c.index: c for c in JobCircuit.objects.filter(job=job)}
    for item in body["items"]:
        row = rows[item["index"]]
        assert item["done"] is row.done and item["counts"] == row.counts and item["metadata"] == row.metadata
    assert body["items"][0]["counts"] == {"00": 9, "11": 91} and body["items"][1]["done"] is False
    default = api_for("bob").get(f"/jobs/{job.id}/results").json()
    assert [r["index"] for r in default["items"]] == list(range(30))  # limit 50 by default
    assert api_for("bob").get(f"/jobs/{job.id}/results", offset=40).json() == {"items": [], "count": 30}


def test_pages_are_bounded_and_follow_the_access_rule(api_for, users):
    job = job_with_results(users["alice"], users["lab"], 3, stored={0})
    viewer = api_for("viola")
    assert [r["index"] for r in viewer.get(f"/jobs/{job.id}/results").json()["items"]] == [0, 1, 2]
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "x"}):
        assert viewer.get(f"/jobs/{job.id}/results", **bad).status_code in (400, 422), bad
    assert api_for("charlie").get(f"/jobs/{job.id}/results").status_code == 404  # not in the team
    assert api_for(None).get(f"/jobs/{job.id}/results").status_code == 401


def test_a_page_ends_early_at_its_outcome_budget_and_a_walk_reads_every_circuit(api_for, users, monkeypatch):
    from qportal.jobs import api as jobs_api

    monkeypatch.setattr(jobs_api, "MAX_PAGE_OUTCOMES", 5)
    job = job_with_results(users["alice"], users["lab"], 7, stored=set(range(7)))  # 2 outcomes each
    first = api_for("bob").get(f"/jobs/{job.id}/results", limit=50).json()
    assert [r["index"] for r in first["items"]] == [0, 1] and first["count"] == 7  # 2 + 2, a third is over 5
    monkeypatch.setattr(jobs_api, "MAX_PAGE_OUTCOMES", 1)
    one = api_for("bob").get(f"/jobs/{job.id}/results", offset=3).json()
    assert [r["index"] for r in one["items"]] == [3]  # one circuit even over the budget
    monkeypatch.setattr(jobs_api, "MAX_PAGE_OUTCOMES", 5)
    walked = api_for("bob").results(job.id)
    assert [r["index"] for r in walked] == list(range(7))
    assert [r["counts"] for r in walked] == [{"00": i, "11": 100 - i} for i in range(7)]


def test_with_memory_a_page_counts_every_shot_against_its_budget(api_for, users, monkeypatch):
    from qportal.jobs import api as jobs_api

    job = job_with_results(users["alice"], users["lab"], 4, stored=set(range(4)))  # 2 outcomes, 100 shots each
    monkeypatch.setattr(jobs_api, "MAX_PAGE_OUTCOMES", 250)
    assert len(api_for("bob").get(f"/jobs/{job.id}/results").json()["items"]) == 4  # 8 outcomes
    page = api_for("bob").get(f"/jobs/{job.id}/results", memory="true").json()
    assert [r["index"] for r in page["items"]] == [0, 1]  # 102 each: a third is over 250
