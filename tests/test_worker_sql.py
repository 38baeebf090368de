"""The worker's hand-written SQL (``qportal.jobs.store``, ``events.append_event``): the same rows,
objects and conditions the ORM gave, on both the RETURNING path and the UPDATE-then-SELECT one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from executors.base import CircuitResult
from qportal import rawsql
from qportal.accounts.models import IBMCredential
from qportal.jobs import queries, services, store
from qportal.jobs.models import Job, JobCircuit, JobStatus
from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL


def fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def submit(user, profile="local", **kwargs):
    return services.submit_job(user, services.Submission(profile=profile, circuits=[{"qasm": BELL}], **kwargs))


@pytest.fixture(params=["returning", "update-then-select"])
def returning(request, monkeypatch):
    if request.param != "returning":
        monkeypatch.setattr(rawsql, "returning_supported", lambda: False)
    return request.param


def test_load_work_builds_the_job_profile_and_credential_the_orm_builds(users):
    lab = users["lab"]
    credential = IBMCredential(team=lab, name="main", instance="crn:abc", proxies={"https": "http://p:1"})
    credential.set_token("token-0123456789")
    credential.save()
    ExecutorProfile.objects.create(
        team=lab, name="cloud", kind="ibm_cloud", backend="ibm_x", credential=credential, options={"a": [1, 2]}
    )
    job = submit(users["alice"], profile="cloud", team=lab.id, tags=["t1"], shots=300)
    (claim,) = store.claim_jobs("w", 1, 30)

    loaded = queries.claimed_job(claim.job_id, claim.attempt)
    orm = Job.objects.select_related("profile", "profile__credential").get(id=job.id)
    assert fields(loaded) == fields(orm) and fields(loaded.profile) == fields(orm.profile)
    assert fields(loaded.profile.credential) == fields(orm.profile.credential)
    assert loaded.tags == ["t1"] and loaded.profile.options == {"a": [1, 2]} and loaded.created.tzinfo is not None

    item = store.load_work(claim)
    assert item.spec == orm.profile.to_spec(with_secrets=True)
    assert item.spec.credential.token == "token-0123456789" and item.credential_id == credential.id
    assert (item.request.shots, item.request.tags, item.attempt, item.status) == (300, ["t1"], 1, JobStatus.SUBMITTING)
    assert [c.num_qubits for c in item.request.circuits] == [2]

    assert queries.claimed_job(job.id, claim.attempt + 1) is None  # another attempt's job


def test_load_work_reads_a_local_profile_without_credential(users):
    submit(users["alice"])
    (claim,) = store.claim_jobs("w", 1, 30)
    loaded = queries.claimed_job(claim.job_id, claim.attempt)
    assert loaded.profile.credential is None and loaded.profile.name == "local"


def test_claim_update_and_events_on_both_sql_paths(users, returning):
    local, due_later = submit(users["alice"]), submit(users["alice"])
    Job.objects.filter(id=due_later.id).update(not_before=timezone.now() + timedelta(minutes=5))
    (claim,) = store.claim_jobs("w1", 10, 30)
    assert claim.job_id == local.id and claim.attempt == 1 and not claim.recovered
    local.refresh_from_db()
    assert (local.status, local.worker_id, local.last_seq) == (JobStatus.RUNNING, "w1", 2)
    assert local.lease_until > timezone.now() + timedelta(seconds=20)
    assert list(local.events.values_list("seq", "kind", "status")) == [
        (1, "queued", "queued"),
        (2, "claimed", "running"),
    ]

    item = store.load_work(claim)
    result = CircuitResult(index=0, counts={"00": 3, "11": 5}, metadata={"shots": 8})
    assert store.finish_done(item, [result], 0.25, [], {"executor": "aer"})
    local.refresh_from_db()
    assert (local.status, local.circuits_done, local.execution_time, local.lease_until) == (
        JobStatus.DONE,
        1,
        0.25,
        None,
    )
    assert local.remote_ids == [] and local.finished_at is not None
    row = JobCircuit.objects.get(job=local)
    assert (row.done, row.counts, row.metadata) == (True, {"00": 3, "11": 5}, {"shots": 8})
    done = local.events.get(seq=3)
    assert (done.kind, done.status, done.data["executor"]) == ("done", "done", "aer")

    assert not store.finish_done(item, [result], 0.25, [], {})  # finished: the condition no longer holds
    assert local.events.count() == 3


def test_an_expired_lease_is_recovered_and_the_old_attempt_writes_nothing(users, returning):
    job = submit(users["alice"], profile="fake_manila")
    (first,) = store.claim_jobs("w1", 1, 30)
    old = store.load_work(first)
    assert store.claim_jobs("w2", 1, 30) == []  # the lease holds
    Job.objects.filter(id=job.id).update(lease_until=timezone.now() - timedelta(seconds=1))
    (second,) = store.claim_jobs("w2", 1, 30)
    assert second.recovered and second.attempt == 2
    result = CircuitResult(index=0, counts={"0": 1})
    assert not store.mark_running(old, ["r-old"], "late")
    assert not store.finish_done(old, [result], 1.0, ["r-old"], {})
    store.save_circuit_results(old, [result], 1)
    job.refresh_from_db()
    assert (job.attempt, job.worker_id, job.status, job.remote_ids, job.circuits_done) == (2, "w2", "submitting", [], 0)
    assert not JobCircuit.objects.get(job=job).done
    assert list(job.events.values_list("kind", flat=True)) == ["queued", "claimed", "recovered"]


def test_a_circuit_result_counts_once(users, returning):
    ExecutorProfile.objects.create(
        team=users["lab"], name="stepwise", kind="fake", backend="fake_manila", single_job=False
    )
    job = services.submit_job(
        users["alice"],
        services.Submission(profile="stepwise", circuits=[{"qasm": BELL}] * 2, team=users["lab"].id),
    )
    (claim,) = store.claim_jobs("w", 1, 30)
    item = store.load_work(claim)
    first = CircuitResult(index=1, counts={"00": 7}, evs=None)
    store.save_circuit_results(item, [first], 2)
    store.save_circuit_results(item, [CircuitResult(index=1, counts={"11": 9})], 2)  # a repeated callback
    job.refresh_from_db()
    assert job.circuits_done == 1
    assert [e.data["index"] for e in job.events.filter(kind="circuit")] == [1]
    assert JobCircuit.objects.get(job=job, index=1).counts == {"00": 7}
    assert not JobCircuit.objects.get(job=job, index=0).done


def test_sub_status_repeats_write_nothing_and_cancel_conditions_hold(users, returning):
    job = submit(users["alice"], profile="fake_manila")
    (claim,) = store.claim_jobs("w", 1, 30)
    item = store.load_work(claim)
    store.set_sub_status(item, "transpiling")
    store.set_sub_status(item, "transpiling")
    job.refresh_from_db()
    assert job.sub_status == "transpiling" and job.events.filter(kind="progress").count() == 1

    services.cancel_job(users["alice"], job)  # active: a request, not a cancel
    services.cancel_job(users["alice"], job)  # asked already: nothing more
    job.refresh_from_db()
    assert job.cancel_requested and job.status == JobStatus.SUBMITTING
    assert job.events.filter(kind="cancel_requested").count() == 1

    queued = submit(users["alice"])
    services.cancel_job(users["alice"], queued)
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED and queued.finished_at is not None
    assert store.claim_jobs("w", 1, 30) == []


def test_job_tables_keep_the_indexes_queries_use_and_no_others(db):
    """Every index costs each submission's inserts: the claim's (status, lease, created order), the
    team's job list (team, created) and lookups by job (the unique (job, n) constraints) are kept; a
    foreign key's own index that one of those repeats, and a B-tree on tag_index (searched with
    LIKE '%..%', which no B-tree serves; PostgreSQL's search indexes are GIN: migration 0007) are not."""
    from django.db import connection

    def indexed(table):
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, table).values()
        return {tuple(c["columns"]): c for c in found if c["index"] or c["unique"]}

    jobs = indexed("jobs_job")
    for columns in (("lease_until",), ("created",), ("team_id", "created"), ("profile_id",)):
        assert columns in jobs, columns
    assert any(columns[:3] == ("status", "created", "id") for columns in jobs)  # PostgreSQL includes more
    assert ("tag_index",) not in jobs and ("team_id",) not in jobs
    for table, number in (("jobs_jobcircuit", "index"), ("jobs_jobevent", "seq")):
        found = indexed(table)
        assert found[("job_id", number)]["unique"] and ("job_id",) not in found
