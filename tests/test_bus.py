"""The message bus carries frames, wake-ups and cancel notices, in-process and over the real Redis.

Each test runs on both implementations: ``LocalBus`` on its own in-memory channel layer, and
``RedisBus`` on the machine's Redis (db 13) with channels_redis's ``RedisPubSubChannelLayer``,
the layer production workers receive on.  Senders are called from a thread, as request threads
and the worker's database thread call them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer
from django.core.exceptions import ImproperlyConfigured

from qportal.accounts.access import personal_team
from qportal.jobs import bus, services
from qportal.jobs.models import Job, JobStatus
from qportal.jobs.worker import JobRunner
from tests.buses import KINDS, REDIS_BUS_URL, close_bus, new_bus
from tests.circuits import BELL


@pytest.fixture(params=KINDS)
async def any_bus(request):
    message_bus = new_bus(request.param)
    yield message_bus
    await close_bus(message_bus)


def job_id() -> str:
    return uuid.uuid4().hex  # unique, so a concurrent user of the same Redis cannot confuse a test


async def receive(message_bus: bus.Bus, channel: str, timeout: float = 5) -> dict | None:
    try:
        return await asyncio.wait_for(message_bus.layer.receive(channel), timeout)
    except TimeoutError:
        return None


async def test_frames_reach_the_subscribers_of_their_groups(any_bus):
    got: dict[str, list[dict]] = {"job": [], "team": [], "other": []}

    def record(key):
        async def send(message):
            got[key].append(json.loads(message["text"]))

        return send

    job = job_id()
    for key, group in (("job", f"job.{job}"), ("team", "team.7"), ("other", "team.8")):
        (await any_bus.subscribe([group], record(key))).start()
    running = {"job": job, "seq": 2, "kind": "claimed", "status": "running"}
    done = {"job": job, "seq": 3, "kind": "done", "status": "done"}
    for frame in (running, done):
        await asyncio.to_thread(any_bus.publish, frame, 7)
    for _ in range(250):
        if len(got["team"]) == 2:
            break
        await asyncio.sleep(0.02)
    assert got == {"job": [running, done], "team": [running, done], "other": []}
    assert any_bus.finished(job)  # the done frame is remembered, for long-polls that come late
    assert not any_bus.finished(job_id())


async def test_wake_ups_reach_every_joined_worker_through_the_channel_layer(any_bus):
    first, second = await any_bus.join("worker-a"), await any_bus.join("worker-b")
    job = job_id()
    await asyncio.to_thread(any_bus.wake_workers, job)
    assert await receive(any_bus, first) == {"type": bus.WAKE, "job": job}
    assert await receive(any_bus, second) == {"type": bus.WAKE, "job": job}

    # A new job's first frame and its wake-up are sent together.
    frames = []

    async def record(message):
        frames.append(json.loads(message["text"]))

    (await any_bus.subscribe(["team.7"], record)).start()
    new = {"job": job_id(), "seq": 1, "kind": "queued", "status": "queued"}
    await asyncio.to_thread(any_bus.publish, new, 7, wake=True)
    assert await receive(any_bus, first) == {"type": bus.WAKE, "job": new["job"]}
    assert await receive(any_bus, second) == {"type": bus.WAKE, "job": new["job"]}
    for _ in range(250):
        if frames:
            break
        await asyncio.sleep(0.02)
    assert frames == [new]

    await any_bus.leave("worker-b", second)
    await asyncio.to_thread(any_bus.wake_workers, "after-leaving")
    assert await receive(any_bus, first) == {"type": bus.WAKE, "job": "after-leaving"}
    assert await receive(any_bus, second, 0.3) is None


async def test_a_cancel_notice_reaches_only_the_worker_it_names(any_bus):
    mine, other = await any_bus.join("host:1:worker"), await any_bus.join("host:2:worker")
    job = job_id()
    await asyncio.to_thread(any_bus.notify_cancel, job, "host:1:worker")
    assert await receive(any_bus, mine) == {"type": bus.CANCEL, "job": job}
    assert await receive(any_bus, other, 0.3) is None
    await asyncio.to_thread(any_bus.notify_cancel, job, "nobody")  # no such worker: dropped, no error


def test_sending_never_raises_when_the_transport_is_down():
    down = bus.RedisBus.for_url("redis://127.0.0.1:1/13")
    down.publish({"job": "j", "seq": 1, "kind": "queued", "status": "queued"}, 7, wake=True)
    down.wake_workers("j")
    down.notify_cancel("j", "w")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_worker_is_woken_and_its_frames_published_through_the_bus(users, kind):
    """Timed sweeps are 120 s apart: only the wake-up sent with the new job's first frame can make
    the worker claim it within the wait; its frames come back through the same bus."""
    from executors import isolation

    message_bus = new_bus(kind)
    old = bus.use(message_bus)
    frames = []

    async def record(message):
        frames.append(json.loads(message["text"]))

    team = await sync_to_async(personal_team)(users["alice"])
    (await message_bus.subscribe([f"team.{team.id}"], record)).start()
    runner = JobRunner(worker_id=f"bus-{kind}", sweep_seconds=120)
    serving = asyncio.create_task(runner.serve())
    try:
        for _ in range(400):  # serve() starts the simulator processes, then joins and sweeps once
            if runner.bus is message_bus and await _joined(message_bus, runner):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # past the first sweep, which found nothing
        job = await sync_to_async(services.submit_job)(
            users["alice"], services.Submission(profile="local", circuits=[{"qasm": BELL}])
        )
        for _ in range(200):
            if frames and frames[-1]["kind"] == "done":
                break
            await asyncio.sleep(0.05)
        status = await sync_to_async(lambda: Job.objects.get(id=job.id).status)()
        assert status == JobStatus.DONE
        assert [f["kind"] for f in frames][0] == "queued" and frames[-1]["kind"] == "done"
        assert {f["job"] for f in frames} == {str(job.id)}
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        isolation.disable()
        bus.use(old)
        await close_bus(message_bus)


async def _joined(message_bus: bus.Bus, runner: JobRunner) -> bool:
    if isinstance(message_bus, bus.LocalBus):
        return runner.worker_id in message_bus._workers
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_BUS_URL)
    try:
        (_, count), *_ = await client.pubsub_numsub(message_bus.group_channel(bus.worker_group(runner.worker_id)))
        return count > 0
    finally:
        await client.aclose()


def test_settings_with_redis_give_the_redis_bus_on_channels_pubsub_layer():
    code = (
        "import django; django.setup()\n"
        "from qportal.jobs import bus\n"
        "b = bus.current()\n"
        "print(type(b).__name__, type(b.layer).__name__, b.prefix, b.hub.channel)\n"
    )
    env = {**os.environ, "REDIS_URL": REDIS_BUS_URL, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    reference = bus.RedisBus.for_url(REDIS_BUS_URL)
    assert out.stdout.split() == ["RedisBus", "RedisPubSubChannelLayer", reference.prefix, reference.hub.channel]


def test_a_redis_url_with_another_channel_layer_is_refused(settings, monkeypatch):
    settings.REDIS_URL = REDIS_BUS_URL
    monkeypatch.setattr(bus, "get_channel_layer", lambda: InMemoryChannelLayer())
    with pytest.raises(ImproperlyConfigured, match="RedisPubSubChannelLayer"):
        bus.from_settings()
