"""The worker's safety rules: conditional claims and writes, lease recovery, cancel while running."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.apps import apps
from django.utils import timezone

from executors import isolation
from executors.base import CircuitResult
from qportal.jobs import bus, services, store
from qportal.jobs.models import Job, JobStatus
from qportal.jobs.parsed import ParsedCircuits
from qportal.jobs.worker import JobRunner
from tests.buses import KINDS, close_bus, new_bus
from tests.circuits import BELL


def submit(user, **kwargs):
    return services.submit_job(user, services.Submission(profile="local", circuits=[{"qasm": BELL}], **kwargs))


def test_a_job_is_claimed_once(users):
    job = submit(users["alice"])
    first = store.claim_jobs("w1", 10, 30)
    second = store.claim_jobs("w2", 10, 30)
    assert [c.job_id for c in first] == [job.id] and second == []
    job.refresh_from_db()
    assert (job.status, job.attempt, job.worker_id) == (JobStatus.RUNNING, 1, "w1")  # local: the claim starts it


def test_the_claim_starts_local_jobs_and_other_kinds_go_through_submitting(users, run_jobs):
    local = submit(users["alice"])
    fake = services.submit_job(users["alice"], services.Submission(profile="fake_manila", circuits=[{"qasm": BELL}]))
    assert len(store.claim_jobs("w1", 10, 30)) == 2
    local.refresh_from_db()
    fake.refresh_from_db()
    assert (local.status, local.sub_status) == (JobStatus.RUNNING, "executing") and local.started_at is not None
    assert fake.status == JobStatus.SUBMITTING and fake.started_at is None

    Job.objects.filter(id__in=[local.id, fake.id]).update(lease_until=timezone.now() - timedelta(seconds=1))
    run_jobs()  # recovered by another worker after the lease expired
    local_events = list(local.events.values_list("kind", "status"))
    assert ("claimed", JobStatus.RUNNING) in local_events and "running" not in [kind for kind, _ in local_events]
    assert local_events[-1] == ("done", JobStatus.DONE)
    fake_kinds = list(fake.events.values_list("kind", flat=True))
    assert fake_kinds.count("running") == 1 and fake_kinds[-1] == "done"


def test_a_job_that_cannot_be_loaded_fails_with_the_reason_and_others_still_run(users, run_jobs):
    from qportal.jobs.models import JobCircuit

    broken, fine = submit(users["alice"]), submit(users["alice"])
    apps.get_app_config("jobs").parsed_circuits.take(broken.id, 1)  # no parsed copy: the worker reads the source
    JobCircuit.objects.filter(job=broken).update(source="OPENQASM 2.0;\nqreg q[2];\nfrobnicate q;\n")
    run_jobs()
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert broken.status == JobStatus.FAILED and broken.error.startswith("cannot prepare job: ")
    assert "frobnicate" in broken.error or "line 3" in broken.error, broken.error
    assert list(broken.events.values_list("kind", flat=True))[-1] == "failed"
    assert fine.status == JobStatus.DONE


def test_expired_lease_is_recovered_and_the_old_worker_cannot_write(users, run_jobs):
    job = submit(users["alice"], shots=300)
    (stale,) = store.claim_jobs("dead-worker", 10, 30)
    item = store.load_work(stale)
    assert store.mark_running(item, [], "running")
    Job.objects.filter(id=job.id).update(lease_until=timezone.now() - timedelta(seconds=1))

    run_jobs()  # another worker takes over after the lease expired
    job.refresh_from_db()
    assert (job.status, job.attempt) == (JobStatus.DONE, 2)
    kinds = list(job.events.values_list("kind", flat=True))
    assert kinds.count("recovered") == 1 and kinds.count("done") == 1

    # The first worker wakes up late: none of its writes land.
    result = CircuitResult(index=0, shots=300, counts={"01": 300})
    assert not store.finish_done(item, [result], 1.0, [], {})
    assert not store.finish_failed(item, "late failure")
    assert not store.renew_lease(job.id, item.attempt, 30)[0]
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.circuits.get().counts != {"01": 300}
    assert list(job.events.values_list("kind", flat=True)).count("done") == 1


def test_unexpired_lease_is_left_alone(users, run_jobs):
    job = submit(users["alice"])
    store.claim_jobs("busy-worker", 10, 300)
    assert store.claim_jobs("other", 10, 30) == []
    job.refresh_from_db()
    assert job.worker_id == "busy-worker" and job.attempt == 1


def test_events_have_consecutive_sequence_numbers(users, run_jobs):
    job = submit(users["alice"])
    run_jobs()
    assert list(job.events.values_list("seq", flat=True)) == list(range(1, job.events.count() + 1))
    job.refresh_from_db()
    assert job.last_seq == job.events.count()


SLOW = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[10];\ncreg m[10];\ncreg c[10];\n'
    + "".join(f"h q[{i}];\ncx q[{i}],q[{(i + 1) % 10}];\n" for i in range(10)) * 2
    + "measure q -> m;\nreset q;\nh q;\nmeasure q -> c;\n"
)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_stops_a_running_job(users, kind):
    """On either bus, the cancel notice reaches the worker running the job."""
    from qportal.profiles.models import ExecutorProfile

    ExecutorProfile.objects.create(team=users["lab"], name="stepwise", kind="local", single_job=False)
    job = services.submit_job(
        users["alice"],
        services.Submission(profile="stepwise", circuits=[{"qasm": SLOW}] * 40, shots=2000, team=users["lab"].id),
    )

    async def scenario():
        # A 300 s lease puts the next heartbeat 100 s away: only the cancel notice sent to this
        # worker's own channel can stop the job within the bounded wait below.
        message_bus = new_bus(kind)
        old = bus.use(message_bus)
        runner = JobRunner(worker_id="w", lease_seconds=300)
        serving = asyncio.create_task(runner.serve())
        try:
            for _ in range(600):
                await asyncio.sleep(0.05)
                state = await sync_to_async(lambda: Job.objects.values_list("status", "circuits_done").get(id=job.id))()
                if state[0] == JobStatus.RUNNING and state[1] >= 1:
                    break
            await sync_to_async(services.cancel_job)(users["alice"], job)
            for _ in range(600):
                await asyncio.sleep(0.05)
                if await sync_to_async(lambda: Job.objects.get(id=job.id).status)() == JobStatus.CANCELLED:
                    return
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            isolation.disable()  # serve() turned it on for this process
            bus.use(old)
            await close_bus(message_bus)

    async_to_sync(scenario)()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert 1 <= job.circuits_done < 40
    kinds = list(job.events.values_list("kind", flat=True))
    assert "cancel_requested" in kinds and kinds[-1] == "cancelled" and "done" not in kinds


@pytest.mark.parametrize("shots", [1000, 5000], ids=["run inline", "run as tasks"])
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_full_worker_sweeps_when_a_slot_frees_and_an_idle_one_does_not(users, monkeypatch, shots):
    """Timed sweeps are 120 s apart here: with one slot, the second queued job starts as soon as the
    first ends; with free slots left, a finished job triggers no extra sweep (a new job wakes the
    worker itself)."""
    sweeps = []
    claim_and_load = store.claim_and_load
    monkeypatch.setattr(store, "claim_and_load", lambda *args: sweeps.append(args[1]) or claim_and_load(*args))
    first, second = submit(users["alice"], shots=shots), submit(users["alice"], shots=shots)

    async def until_done(*jobs):
        for _ in range(400):
            statuses = await sync_to_async(
                lambda: set(Job.objects.filter(id__in=[j.id for j in jobs]).values_list("status", flat=True))
            )()
            if statuses == {JobStatus.DONE}:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"jobs not done: {statuses}")

    async def scenario(concurrency: int, *jobs):
        runner = JobRunner(worker_id=f"w{concurrency}", concurrency=concurrency, sweep_seconds=120)
        serving = asyncio.create_task(runner.serve())
        try:
            await until_done(*jobs)
            await asyncio.sleep(0.3)  # time for a sweep that should not happen
        finally:
            serving.cancel()
            isolation.disable()  # serve() turned it on for this process

    async_to_sync(scenario)(1, first, second)
    assert sweeps[:2] == [1, 1] and len(sweeps) == 3  # both jobs, then one sweep that finds nothing
    sweeps.clear()
    third = submit(users["alice"], shots=shots)
    async_to_sync(scenario)(4, third)
    assert sweeps == [4]


def test_load_work_takes_the_circuits_parsed_at_submission(users, monkeypatch):
    from executors.circuits import parse_circuit

    parsed = []
    monkeypatch.setattr(store, "parse_circuit", lambda *args: parsed.append(args) or parse_circuit(*args))
    first = submit(users["alice"])
    (claim,) = store.claim_jobs("w", 1, 30)
    item = store.load_work(claim, apps.get_app_config("jobs").parsed_circuits)
    assert claim.job_id == first.id and parsed == []
    assert item.request.sources == [BELL]  # a simulator child is sent the text
    assert [c.num_qubits for c in item.request.circuits] == [2] and item.request.circuits[0].count_ops()["cx"] == 1

    # A miss (submitted by another process, or evicted): the stored source is parsed.
    second = submit(users["alice"])
    assert apps.get_app_config("jobs").parsed_circuits.take(second.id, 1) is not None
    (claim,) = store.claim_jobs("w", 1, 30)
    item = store.load_work(claim, apps.get_app_config("jobs").parsed_circuits)
    assert claim.job_id == second.id and len(parsed) == 1
    assert item.request.circuits[0].count_ops()["cx"] == 1


def test_remembered_circuits_are_bounded():
    parsed = ParsedCircuits(keep=5)
    for n in range(4):
        parsed.remember(f"job-{n}", ["circuit"] * 2)
    assert len(parsed) <= 5 and parsed.job_ids() == ["job-2", "job-3"]
    assert parsed.take("job-3", 1) is None  # a count that does not match is a miss
    assert parsed.take("job-2", 2) == ["circuit"] * 2
    assert len(parsed) == 0 and parsed.take("job-2", 2) is None


def test_a_tiny_local_job_runs_and_finishes_in_the_sweep_and_its_failure_is_recorded(users, run_jobs, monkeypatch):
    from executors.base import RemoteJobFailed
    from executors.local import LocalSimulatorExecutor
    from tests.stats import assert_counts_match, exact_probabilities

    tasks = []
    run = JobRunner._run
    monkeypatch.setattr(JobRunner, "_run", lambda self, *args: tasks.append(args[0].job_id) or run(self, *args))
    tiny, larger = submit(users["alice"], shots=2000), submit(users["alice"], shots=5000)
    run_jobs()
    for job in (tiny, larger):
        job.refresh_from_db()
        assert job.status == JobStatus.DONE
    assert tasks == [larger.id]  # the tiny one never became a task
    assert list(tiny.events.values_list("kind", flat=True)) == ["queued", "claimed", "done"]
    assert_counts_match(tiny.circuits.get().counts, exact_probabilities(BELL), 2000)

    def broken(self, request):
        raise RemoteJobFailed("simulator said no")

    monkeypatch.setattr(LocalSimulatorExecutor, "run_inline", broken)
    doomed = submit(users["alice"])
    run_jobs()
    doomed.refresh_from_db()
    assert (doomed.status, doomed.error) == (JobStatus.FAILED, "simulator said no")
