"""Websocket streams through the real ASGI stack (origin check, session auth, URL routing)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from qportal.jobs import events, fanout, services
from qportal.jobs.models import JobEvent
from qportal.jobs.worker import JobRunner
from tests.circuits import BELL, GHZ3

# serialized_rollback keeps the built-in profiles (a data migration) between transactional tests.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture
def app(settings):
    settings.EMBEDDED_WORKER = False  # the tests drive their own worker
    from qportal.asgi import application

    return application


@pytest.fixture(autouse=True)
async def fresh_layer():
    await get_channel_layer().flush()
    hub = fanout.Hub(None)  # the embedded default's in-process hub, fresh for each test
    old = fanout.use(hub)
    yield hub
    await hub.aclose()
    fanout.use(old)
    await get_channel_layer().flush()


def session_headers(user, origin=ORIGIN) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    return headers + ([origin] if origin else [])


async def connect(app, path: str, user, origin=ORIGIN):
    headers = await sync_to_async(session_headers)(user, origin) if user else ([origin] if origin else [])
    comm = WebsocketCommunicator(app, path, headers=headers)
    connected, code = await comm.connect(timeout=5)
    return comm, connected, code


async def submit(user, team, qasm=BELL, **kwargs):
    sub = services.Submission(
        profile="local", circuits=[{"qasm": qasm}], team=team.id, shots=kwargs.pop("shots", 200), **kwargs
    )
    return await sync_to_async(services.submit_job)(user, sub)


async def run_worker():
    await JobRunner(worker_id="ws-test", lease_seconds=30).run_until_idle(60)


async def frames_until(comm, kind: str, timeout: float = 10) -> list[dict]:
    got = []
    while not got or got[-1].get("kind") != kind:
        got.append(await comm.receive_json_from(timeout=timeout))
    return got


async def db_events(job_id) -> list[dict]:
    return await sync_to_async(lambda: [e.as_frame() for e in JobEvent.objects.filter(job_id=job_id)])()


async def test_job_frames_arrive_in_order_with_sequence_numbers(app, users):
    job = await submit(users["alice"], users["lab"], GHZ3, shots=500)
    comm, connected, _ = await connect(app, f"/ws/jobs/{job.id}/", users["bob"])
    assert connected
    hello = await comm.receive_json_from()
    assert hello == {"type": "hello", "job": str(job.id), "last_seq": 1, "status": "queued"}

    await run_worker()
    frames = await frames_until(comm, "done")
    assert [f["seq"] for f in frames] == list(range(2, 2 + len(frames)))
    assert all(f["job"] == str(job.id) for f in frames)
    stored = await db_events(job.id)
    assert frames == stored[1:]  # exactly the database's events, nothing more, nothing less
    assert frames[-1]["status"] == "done" and "claimed" in [f["kind"] for f in frames]
    assert await comm.receive_nothing(0.2)
    await comm.disconnect()


async def test_team_stream_carries_only_the_users_teams(app, users):
    alice, _, _ = await connect(app, "/ws/jobs/", users["alice"])
    charlie, connected, _ = await connect(app, "/ws/jobs/", users["charlie"])
    assert connected
    hello = await alice.receive_json_from()
    assert hello["type"] == "hello" and users["lab"].id in hello["teams"]
    await charlie.receive_json_from()  # his own hello

    job = await submit(users["bob"], users["lab"])
    frame = await alice.receive_json_from()
    assert (frame["job"], frame["seq"], frame["kind"], frame["status"]) == (str(job.id), 1, "queued", "queued")
    await run_worker()
    frames = await frames_until(alice, "done")
    assert [f["seq"] for f in frames] == list(range(2, 2 + len(frames)))
    assert await charlie.receive_nothing(0.3)
    await alice.disconnect()
    await charlie.disconnect()


async def test_foreign_origin_is_refused(app, users):
    job = await submit(users["alice"], users["lab"])
    for path in ("/ws/jobs/", f"/ws/jobs/{job.id}/"):
        comm, connected, _ = await connect(app, path, users["alice"], origin=(b"origin", b"http://evil.example"))
        assert not connected, path
        comm, connected, _ = await connect(app, path, users["alice"])
        assert connected, path
        await comm.disconnect()


async def test_outsider_and_anonymous_are_refused(app, users):
    job = await submit(users["alice"], users["lab"])
    comm, connected, code = await connect(app, f"/ws/jobs/{job.id}/", users["charlie"])
    assert not connected and code == 4404
    comm, connected, code = await connect(app, "/ws/jobs/00000000-0000-0000-0000-000000000000/", users["alice"])
    assert not connected and code == 4404
    for path in ("/ws/jobs/", f"/ws/jobs/{job.id}/"):
        comm, connected, code = await connect(app, path, None)
        assert not connected and code == 4401
    # The refused sockets left nothing in the registry: events for the job reach no one.
    await sync_to_async(services.cancel_job)(users["alice"], job)
    assert fanout.hub().groups == {}


async def test_reconnect_and_refetch_converge_after_frames_were_dropped(app, users, monkeypatch):
    """A client that follows the page's rule (apply seq n+1; on a gap or hello, GET events?after=)
    ends with exactly the database's history although the layer dropped frames and the socket
    was down for a while."""
    job = await submit(users["alice"], users["lab"], GHZ3, shots=300)
    rest = Client()
    await sync_to_async(rest.force_login)(users["alice"])

    async def refetch(after: int) -> list[dict]:
        resp = await sync_to_async(rest.get)(f"/api/v1/jobs/{job.id}/events", {"after": after})
        assert resp.status_code == 200
        return resp.json()

    seen: list[int] = []
    refetches = 0

    async def apply(frame: dict) -> None:
        nonlocal refetches
        last = seen[-1] if seen else 0
        if frame.get("type") == "hello":
            if frame["last_seq"] > last:
                refetches += 1
                seen.extend(e["seq"] for e in await refetch(last))
            return
        if frame["seq"] <= last:
            return
        if frame["seq"] == last + 1:
            seen.append(frame["seq"])
        else:
            refetches += 1
            seen.extend(e["seq"] for e in await refetch(last))

    seen.append(1)  # the page rendered the "queued" event
    comm, connected, _ = await connect(app, f"/ws/jobs/{job.id}/", users["alice"])
    assert connected
    await apply(await comm.receive_json_from())

    # A lossy layer: every second frame is lost.
    real_publish = events.publish
    counter = {"n": 0}

    def lossy(frame, team_id):
        counter["n"] += 1
        if counter["n"] % 2 == 0:
            return
        real_publish(frame, team_id)

    monkeypatch.setattr(events, "publish", lossy)
    await run_worker()
    while not await comm.receive_nothing(0.5):
        await apply(await comm.receive_json_from())
    assert refetches >= 1, "frames were dropped, the client must have noticed a gap"
    await comm.disconnect()

    # More happens while the socket is down.
    await sync_to_async(events.append_event)(job.id, "progress", message="annotated while offline")
    comm, connected, _ = await connect(app, f"/ws/jobs/{job.id}/", users["alice"])
    hello = await comm.receive_json_from()
    assert hello["last_seq"] > seen[-1]
    await apply(hello)
    await comm.disconnect()

    stored = [e["seq"] for e in await db_events(job.id)]
    assert seen == stored == list(range(1, len(stored) + 1))
