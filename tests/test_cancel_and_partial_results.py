"""Big local jobs (issue 14, items 1 and 2): results are stored chunk by chunk as the simulator
processes finish them, and a cancel ends the simulator child at once while the circuits already
finished keep their results.  Real child processes throughout."""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async

from executors import isolation
from qportal.jobs import services, store
from qportal.jobs.models import Job, JobCircuit, JobStatus
from qportal.jobs.worker import JobRunner
from tests.hostile.test_poison_jobs import alive, busy, busy_children, serving, until
from tests.stats import assert_counts_match

SHOTS = 4000
CIRCUIT = busy(9, 2)  # shot by shot: a few tenths of a second each
SMALL = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; x q[0]; measure q -> c;'


def submit(user, circuits: list[str], shots: int) -> Job:
    sub = services.Submission(profile="local", circuits=[{"qasm": qasm} for qasm in circuits], shots=shots)
    return services.submit_job(user, sub)


def done_circuits(job) -> list[JobCircuit]:
    return list(JobCircuit.objects.filter(job=job, done=True).order_by("index"))


def test_results_arrive_in_chunks_before_the_job_ends(users, settings, monkeypatch):
    settings.WORKER_SIM_PROCESSES = 2
    job = submit(users["alice"], [CIRCUIT] * 31 + [SMALL], SHOTS)
    seen_while_running = []
    at_finish = {}
    finish = store.finish_done

    def watched(item, circuits, *args, **kwargs):
        at_finish.update({c.index: c.counts for c in circuits}, saved=args[-1])
        return finish(item, circuits, *args, **kwargs)

    monkeypatch.setattr(store, "finish_done", watched)

    async def scenario(runner):
        def partial():
            job.refresh_from_db()
            return job.status == JobStatus.RUNNING and 0 < job.circuits_done < 32

        await until(partial)
        seen_while_running.extend(await sync_to_async(done_circuits)(job))
        await until(lambda: Job.objects.get(id=job.id).status in ("done", "failed"))

    serving(JobRunner(worker_id="w", sweep_seconds=0.2), scenario)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE, job.error
    assert job.circuits_done == 32
    assert seen_while_running and all(sum(c.counts.values()) == SHOTS for c in seen_while_running)
    chunk_events = list(job.events.filter(kind="circuit"))
    assert 2 <= len(chunk_events) < 32  # by chunk, not circuit by circuit (2 per chunk of 32 circuits)
    circuits = done_circuits(job)
    assert [c.index for c in circuits] == list(range(32))  # every circuit stored once, in place
    assert_counts_match(circuits[31].counts, {"01": 1.0}, SHOTS)  # the last, small circuit kept its index
    # Stored chunks were let go by the worker (the finish writes only the rest), bounding its memory.
    saved = at_finish.pop("saved")
    assert saved and all(at_finish[i] is None for i in saved)
    assert all(at_finish[i] is not None for i in set(range(32)) - saved)


def test_a_cancel_ends_the_child_within_a_second_and_keeps_finished_circuits(
    users, settings, django_capture_on_commit_callbacks
):
    settings.WORKER_SIM_PROCESSES = 2
    job = submit(users["alice"], [CIRCUIT] * 64, SHOTS)
    stopped_after = {}

    async def scenario(runner):
        await until(lambda: Job.objects.get(id=job.id).circuits_done >= 4)
        children = await busy_children()

        def cancel():  # the test's transaction never commits: run its on-commit notice to the worker
            with django_capture_on_commit_callbacks(execute=True):
                services.cancel_job(users["alice"], job)

        await sync_to_async(cancel)()
        asked = time.monotonic()
        while any(alive(pid) for pid in children) and time.monotonic() - asked < 5:
            await asyncio.sleep(0.02)
        stopped_after["seconds"] = time.monotonic() - asked
        stopped_after["alive"] = [pid for pid in children if alive(pid)]
        stopped_after["children"] = sorted(children)
        await until(lambda: Job.objects.get(id=job.id).status == "cancelled")
        await until(lambda: len([pid for pid in isolation.process_ids() if alive(pid)]) == 2, timeout=30)
        stopped_after["pool"] = isolation.process_ids()

    serving(JobRunner(worker_id="w", sweep_seconds=0.2), scenario)
    assert stopped_after["alive"] == [] and stopped_after["seconds"] < 1.0, stopped_after
    assert not set(stopped_after["pool"]) & set(stopped_after.get("children", []))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    kept = done_circuits(job)
    assert 4 <= len(kept) < 64 and job.circuits_done == len(kept)
    assert all(sum(c.counts.values()) == SHOTS for c in kept)
