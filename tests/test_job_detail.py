"""The job detail read with hand-written SQL (``qportal.jobs.detail``) answers what the ORM and the
schema answer (``JobDetailOut.from_orm(get_job(...)).model_dump()``), value for value and type for type,
and finds only the jobs ``get_job`` finds.

On PostgreSQL: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> pytest tests/test_job_detail.py``.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from ninja.responses import NinjaJSONEncoder

from qportal.accounts.access import NotFound
from qportal.accounts.models import Membership, Role
from qportal.jobs import services, store
from qportal.jobs.detail import job_detail
from qportal.jobs.schemas import CircuitSummaryOut, EventOut, JobDetailOut
from tests.circuits import BELL
from tests.conftest import make_user


def oracle(user, job_id) -> dict:
    return JobDetailOut.from_orm(services.get_job(user, job_id)).model_dump()


def typed(value):
    """``value`` with every leaf paired with its type and every dict's key order kept: 1 != 1.0 != True."""
    if isinstance(value, dict):
        return [(key, typed(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [typed(item) for item in value]
    return type(value), value


def submit(user, **fields):
    fields = {"profile": "local", "circuits": [{"qasm": BELL}], **fields}
    return services.submit_job(user, services.Submission(**fields))


@pytest.fixture
def jobs(users, run_jobs) -> dict:
    """One job of each kind the detail shows differently, all visible to alice."""
    alice, bob, lab = users["alice"], users["bob"], users["lab"]
    failed = submit(alice, name="doomed")
    (claim,) = store.claim_jobs("test-worker", 10, 30)
    assert store.finish_failed(claim, "boom: no such backend")
    made = {
        "failed": failed,
        "sampler": submit(alice, circuits=[{"qasm": BELL, "name": "bell"}, {"qasm": BELL}], shots=300, tags=["a", "b"]),
        "estimator": submit(alice, primitive="estimator", observables=[["ZZ", "XX"]], shots=500),
        "shared": submit(bob, team=lab.id, name="bob's"),
    }
    run_jobs()
    made["rerun"] = services.rerun_job(alice, made["sampler"])  # queued, with rerun_of
    made["queued"] = submit(alice)
    dave = make_user("dave")
    Membership.objects.create(team=lab, user=dave, role=Role.MEMBER)
    made["orphan"] = submit(dave, team=lab.id)
    dave.delete()  # the job stays in lab with created_by NULL
    return made


def test_detail_is_what_the_orm_and_schema_answer(users, jobs, django_assert_num_queries):
    alice = users["alice"]
    details = {}
    for kind, job in jobs.items():
        with django_assert_num_queries(3):
            details[kind] = job_detail(alice, job.id)
        assert typed(details[kind]) == typed(oracle(alice, job.id)), kind
        assert list(details[kind]) == list(JobDetailOut.model_fields)

    sampler, estimator, failed = details["sampler"], details["estimator"], details["failed"]
    assert isinstance(sampler["id"], uuid.UUID) and sampler["id"] == jobs["sampler"].id
    assert (sampler["status"], sampler["tags"], sampler["shots"]) == ("done", ["a", "b"], 300)
    assert sampler["num_circuits"] == sampler["circuits_done"] == 2
    assert (sampler["team_name"], sampler["profile"], sampler["submitted_by"]) == ("alice (personal)", "local", "alice")
    assert isinstance(sampler["finished_at"], datetime) and sampler["finished_at"].tzinfo is not None
    assert isinstance(sampler["execution_time"], float) and sampler["cancel_requested"] is False
    assert [r["index"] for r in sampler["results"]] == [0, 1] and sampler["results"][0]["name"] == "bell"
    second = sampler["results"][1]
    assert second["done"] is True and second["shots"] == 300 and "counts" not in second  # a summary
    assert second["top_outcome"] in ("00", "11") and 100 < second["top_count"] <= 300 and second["outcomes"] == 2
    assert list(sampler["results"][0]) == list(CircuitSummaryOut.model_fields)
    seqs = [e["seq"] for e in sampler["events"]]
    assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] == sampler["last_seq"] > 2
    assert sampler["events"][0]["kind"] == "queued" and isinstance(sampler["events"][0]["data"], dict)
    assert list(sampler["events"][0]) == list(EventOut.model_fields)
    (result,) = estimator["results"]
    assert len(result["evs"]) == len(result["stds"]) == 2 and result["outcomes"] is None
    assert (failed["status"], failed["error"], failed["name"]) == ("failed", "boom: no such backend", "doomed")
    assert failed["events"][-1]["kind"] == "failed" and failed["results"][0]["done"] is False
    shared = details["shared"]
    assert (shared["team"], shared["team_name"], shared["submitted_by"]) == (users["lab"].id, "lab", "bob")
    assert details["rerun"]["rerun_of"] == jobs["sampler"].id and details["queued"]["rerun_of"] is None
    assert details["queued"]["started_at"] is None and details["queued"]["results"][0]["shots"] is None
    assert details["orphan"]["submitted_by"] is None and details["orphan"]["team_name"] == "lab"


def test_another_teams_job_an_unknown_id_and_a_malformed_one_are_not_found(users, jobs):
    charlie, viola = users["charlie"], users["viola"]
    assert job_detail(viola, jobs["shared"].id)["submitted_by"] == "bob"  # a viewer of lab sees it
    for user, job_id in (
        (charlie, jobs["shared"].id),  # lab's, charlie is not in lab
        (users["bob"], jobs["sampler"].id),  # alice's personal team
        (charlie, uuid.uuid4()),
        (charlie, "not-a-uuid"),
        (charlie, -1),
    ):
        with pytest.raises(NotFound, match="^job not found$"):
            job_detail(user, job_id)


def test_the_api_answers_the_detail_and_404s_the_rest(api_for, users, jobs):
    alice, charlie = api_for("alice"), api_for("charlie")
    for kind in ("sampler", "shared", "orphan"):
        resp = alice.get(f"/jobs/{jobs[kind].id}")
        want = json.loads(json.dumps(oracle(users["alice"], jobs[kind].id), cls=NinjaJSONEncoder))
        assert resp.status_code == 200 and resp.json() == want, kind
    assert alice.get(f"/jobs/{jobs['sampler'].id}", wait=5).json()["status"] == "done"  # finished: no waiting
    for path in (f"/jobs/{jobs['shared'].id}", f"/jobs/{uuid.uuid4()}"):
        for params in ({}, {"wait": 1}):
            resp = charlie.get(path, **params)
            assert (resp.status_code, resp.json()) == (404, {"detail": "job not found"}), (path, params)


def test_the_submit_answer_is_what_the_schema_answers(users, django_assert_num_queries):
    from qportal.jobs.detail import job_summary
    from qportal.jobs.schemas import JobOut

    job = submit(users["bob"], team=users["lab"].id, tags=["x"], name="mine")
    rerun = services.rerun_job(users["alice"], job)
    for made in (job, rerun):
        with django_assert_num_queries(0):
            summary = job_summary(made)
        assert typed(summary) == typed(JobOut.from_orm(made).model_dump())
    assert (summary["submitted_by"], summary["rerun_of"], summary["team_name"]) == ("alice", job.id, "lab")


def test_a_frame_is_the_event_the_api_shows_with_its_job(users, client):
    from qportal.accounts.models import ApiKey
    from qportal.jobs.detail import event_frame
    from qportal.jobs.models import JobEvent

    job = services.submit_job(users["alice"], services.Submission(profile="local", circuits=[{"qasm": BELL}]))
    _, key = ApiKey.issue(users["alice"])
    shown = client.get(f"/api/v1/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {key}").json()["events"]
    frames = [event_frame(e) for e in JobEvent.objects.filter(job_id=job.id).order_by("seq")]
    assert [{"job": str(job.id), **event} for event in shown] == frames
