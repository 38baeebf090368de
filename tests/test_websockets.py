"""Websocket streams through the real ASGI stack (origin check, session auth, URL routing)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from qportal.jobs import bus, events, fanout, services
from qportal.jobs.detail import event_frame
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
    local = bus.LocalBus()  # the embedded default's in-process bus, fresh for each test
    old = bus.use(local)
    yield local.hub
    await local.hub.aclose()
    bus.use(old)
    await get_channel_layer().flush()


def session_headers(user, origin=ORIGIN, host=b"testserver") -> list[tuple[bytes, bytes]]:
    """A browser's headers: the session cookie, the page's Origin and the Host it was served from."""
    client = Client()
    client.force_login(user)
    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"host", host)]
    return headers + ([origin] if origin else [])


async def connect(app, path: str, user, origin=ORIGIN, host=b"testserver"):
    if user:
        headers = await sync_to_async(session_headers)(user, origin, host)
    else:
        headers = [(b"host", host)] + ([origin] if origin else [])
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
    return await sync_to_async(lambda: [event_frame(e) for e in JobEvent.objects.filter(job_id=job_id)])()


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
    assert bus.current().hub.groups == {}


async def test_reconnect_and_refetch_converge_after_frames_were_dropped(app, users, monkeypatch):
    """A client that follows the page's rule (apply seq n+1; on a gap or hello, GET events?after=)
    ends with exactly the database's history although the layer dropped frames and the socket
    was down for a while."""
    # 5000 shots: too many to run inline, so the job has progress events between claimed and done
    # and a dropped frame in the middle is one the client can notice.
    job = await submit(users["alice"], users["lab"], GHZ3, shots=5000)
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


async def test_disconnect_leaves_no_registry_entries(app, users, fresh_layer):
    job = await submit(users["alice"], users["lab"])
    socks = []
    for user in ("alice", "bob", "charlie"):
        socks.append((await connect(app, "/ws/jobs/", users[user]))[0])
    socks.append((await connect(app, f"/ws/jobs/{job.id}/", users["bob"]))[0])
    for comm in socks:
        assert (await comm.receive_json_from())["type"] == "hello"
    assert set(fresh_layer.groups) >= {f"team.{users['lab'].id}", f"job.{job.id}"}
    assert len(fresh_layer.groups[f"team.{users['lab'].id}"]) == 2  # alice and bob, not charlie
    assert fresh_layer.socket_count() == 4
    for comm in socks:
        await comm.disconnect()
    assert fresh_layer.groups == {}


async def test_a_client_that_does_not_read_is_closed_not_waited_for(fresh_layer):
    """One stuck socket must not hold up the others: its frames are dropped and it is closed
    (its client reconnects and refetches); the other socket gets every frame."""
    fresh_layer._bind()
    stuck = asyncio.Event()
    got: list[dict] = []

    async def blocked_send(message):
        got.append(message)
        await stuck.wait()

    fast: list[dict] = []

    async def quick_send(message):
        fast.append(message)

    slow_sub = await fresh_layer.subscribe(["team.1"], blocked_send)
    fast_sub = await fresh_layer.subscribe(["team.1"], quick_send)
    slow_sub.start()
    fast_sub.start()
    for i in range(fanout.QUEUE_FRAMES + 5):
        fresh_layer.deliver(["team.1"], f'{{"seq": {i}}}')
        await asyncio.sleep(0)
    assert slow_sub.kicked and fresh_layer.socket_count() == 1
    stuck.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert got[-1] == {"type": "websocket.close", "code": fanout.CLOSE_LAGGING}
    assert [m["text"] for m in fast] == [f'{{"seq": {i}}}' for i in range(fanout.QUEUE_FRAMES + 5)]
    fast_sub.close()
    assert fresh_layer.groups == {}


REDIS_TEST_URL = "redis://127.0.0.1:6379/10"


@pytest.fixture
async def redis_hub():
    """The production transport on the machine's Redis (db 10, flushed): this process's bus's hub
    plus a second hub standing for another web process."""
    import redis

    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    redis_bus, other = bus.RedisBus.for_url(REDIS_TEST_URL), fanout.Hub(REDIS_TEST_URL)
    old = bus.use(redis_bus)
    yield redis_bus.hub, other
    await redis_bus.hub.aclose()
    await other.aclose()
    bus.use(old)
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()


@pytest.mark.production
async def test_events_reach_sockets_in_every_process_over_redis(app, users, redis_hub):
    hub, other = redis_hub
    job = await submit(users["alice"], users["lab"], GHZ3, shots=300)
    team, _, _ = await connect(app, "/ws/jobs/", users["bob"])
    single, _, _ = await connect(app, f"/ws/jobs/{job.id}/", users["alice"])
    assert (await team.receive_json_from())["type"] == "hello"
    assert (await single.receive_json_from())["last_seq"] == 1
    elsewhere: list[dict] = []

    async def record(message):
        elsewhere.append(json.loads(message["text"]))

    (await other.subscribe([f"team.{users['lab'].id}"], record)).start()

    await run_worker()  # this process publishes through Redis, like a runworker process would
    want = (await db_events(job.id))[1:]
    assert await frames_until(single, "done") == want
    assert await frames_until(team, "done") == want
    assert elsewhere == want
    assert hub.finished(job.id) and other.finished(job.id)  # the done frame's mark, for long-polls

    # A publisher in another OS process reaches both hubs.
    frame = {**want[-1], "seq": want[-1]["seq"] + 1, "kind": "note"}
    code = (
        "import json, os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings')\n"
        "django.setup()\n"
        "from qportal.jobs.bus import RedisBus\n"
        f"RedisBus.for_url({REDIS_TEST_URL!r}).publish(json.loads(sys.argv[2]), int(sys.argv[1]))\n"
    )
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", code, str(users["lab"].id), json.dumps(frame)], check=True, timeout=60
    )
    assert await single.receive_json_from() == frame
    assert await team.receive_json_from() == frame
    await asyncio.sleep(0.1)
    assert elsewhere[-1] == frame and len(elsewhere) == len(want) + 1
    await team.disconnect()
    await single.disconnect()
    assert hub.groups == {}


@pytest.mark.production
async def test_losing_the_subscription_closes_sockets_so_clients_refetch(app, users, redis_hub):
    import redis

    hub, _ = redis_hub
    comm, connected, _ = await connect(app, "/ws/jobs/", users["alice"])
    assert connected and (await comm.receive_json_from())["type"] == "hello"
    admin = redis.Redis.from_url(REDIS_TEST_URL)
    ours = [c["id"] for c in admin.client_list() if c["name"] == fanout.CLIENT_NAME and c["db"] == "10"]
    assert ours
    for client_id in ours:
        admin.client_kill_filter(_id=client_id)
    assert await comm.receive_output(timeout=10) == {"type": "websocket.close", "code": fanout.CLOSE_RESTART}
    assert hub.groups == {}
    # The hub resubscribes: a new socket is served again.
    comm, connected, _ = await connect(app, "/ws/jobs/", users["alice"])
    assert connected and (await comm.receive_json_from())["type"] == "hello"
    job = await submit(users["bob"], users["lab"])
    assert (await comm.receive_json_from())["job"] == str(job.id)
    await comm.disconnect()
