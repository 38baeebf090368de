"""Long-poll: ``?wait=SECONDS`` on submit and on GET answers with the finished job."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from executors import isolation
from qportal.accounts.models import ApiKey
from qportal.jobs import waiting
from qportal.jobs.worker import JobRunner
from tests.circuits import BELL

SHOTS = 2000


class _Client:
    """Django's AsyncClient on the test's own event loop (where the worker and the channel layer live)."""

    def __init__(self, user):
        _, key = ApiKey.issue(user)
        self.client = AsyncClient()
        self.headers = {"Authorization": f"Bearer {key}"}

    async def post(self, path: str, body: dict):
        return await self.client.post(path, body, content_type="application/json", headers=self.headers)

    async def get(self, path: str, params: dict):
        return await self.client.get(path, params, headers=self.headers)


def _with_worker(scenario):
    """Run ``scenario()`` on one event loop with a serving worker, as the embedded default does."""

    async def main():
        serving = asyncio.create_task(JobRunner(worker_id="w").serve())
        try:
            return await scenario()
        finally:
            serving.cancel()
            isolation.disable()  # serve() turned it on for this process

    return async_to_sync(main)()


def _check_done(body: dict) -> None:
    assert body["status"] == "done", body
    assert [e["kind"] for e in body["events"]][-1] == "done"
    (result,) = body["results"]  # a summary: shots and the top outcome of the Bell state's two
    assert result["shots"] == SHOTS and result["outcomes"] == 2 and result["top_outcome"] in ("00", "11")
    assert SHOTS / 2 <= result["top_count"] <= SHOTS / 2 + 5 * (SHOTS / 4) ** 0.5


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_submit_with_wait_answers_with_results_and_get_with_wait_too(users):
    client = _Client(users["alice"])
    body = {"profile": "local", "shots": SHOTS, "circuits": [{"qasm": BELL}]}

    async def scenario():
        submitted = await client.post("/api/v1/jobs?wait=30", body)
        queued = await client.post("/api/v1/jobs", body)
        waited = await client.get(f"/api/v1/jobs/{queued.json()['id']}", {"wait": 30})
        return submitted, queued, waited

    submitted, queued, waited = _with_worker(scenario)
    assert submitted.status_code == 201
    _check_done(submitted.json())
    assert queued.status_code == 201 and queued.json()["status"] == "queued" and "results" not in queued.json()
    assert waited.status_code == 200
    _check_done(waited.json())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_wait_survives_lost_frames(users, monkeypatch):
    """Frames are hints: with every live event dropped, the database check still ends the wait."""
    monkeypatch.setattr("qportal.jobs.events.publish", lambda frame, team_id: None)
    monkeypatch.setattr(waiting, "RECHECK_SECONDS", 0.05)
    client = _Client(users["alice"])

    async def scenario():
        return await client.post(
            "/api/v1/jobs?wait=30", {"profile": "local", "shots": SHOTS, "circuits": [{"qasm": BELL}]}
        )

    resp = _with_worker(scenario)
    assert resp.status_code == 201
    _check_done(resp.json())


def test_wait_ends_with_the_current_state_when_nothing_runs_the_job(api_for):
    api = api_for("alice")
    job = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()
    resp = api.get(f"/jobs/{job['id']}", wait=0.2)  # no worker: the job stays queued
    assert resp.status_code == 200 and resp.json()["status"] == "queued"


@pytest.mark.parametrize("wait", ["-1", "61", "soon"])
def test_wait_out_of_range_is_rejected(api_for, wait):
    api = api_for("alice")
    job = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()
    assert api.get(f"/jobs/{job['id']}", wait=wait).status_code in (400, 422)
    resp = api.client.post(
        f"/api/v1/jobs?wait={wait}",
        {"profile": "local", "circuits": [{"qasm": BELL}]},
        content_type="application/json",
        **api.headers,
    )
    assert resp.status_code in (400, 422)


def test_wait_on_another_teams_job_is_404(api_for):
    job = api_for("alice").post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()
    assert api_for("charlie").get(f"/jobs/{job['id']}", wait=1).status_code == 404


async def test_a_job_that_finished_before_the_wait_began_is_known_without_the_database(monkeypatch):
    """The bus remembers jobs whose finishing frame it delivered; other jobs wait for frames, and the
    database is read only at the recheck (here past the waits)."""
    from qportal.jobs import bus, events

    monkeypatch.setattr(waiting, "RECHECK_SECONDS", 120)
    reads = []
    monkeypatch.setattr(waiting, "_finished", lambda job_id: reads.append(job_id) or False)
    old = bus.use(bus.LocalBus())
    try:
        (await bus.current().subscribe(["team.1"], lambda message: asyncio.sleep(0))).start()  # binds the hub
        frame = {"job": "finished-job", "seq": 3, "kind": "done", "status": "done"}
        await asyncio.to_thread(events.publish, frame, 1)
        await asyncio.to_thread(
            events.publish, {**frame, "job": "running-job", "kind": "claimed", "status": "running"}, 1
        )
        await asyncio.sleep(0.05)  # delivered on this loop
        assert await asyncio.wait_for(waiting.wait_until_finished("finished-job", 30), 5) is True
        assert await waiting.wait_until_finished("running-job", 0.2) is False
        assert reads == ["running-job"]  # once, when the wait ran out
    finally:
        bus.use(old)
