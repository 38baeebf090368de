"""Joining or leaving a team changes an open socket's stream at once, without reconnecting."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from qportal.accounts import teams
from qportal.jobs import bus
from tests.test_websockets import app, connect, fresh_layer, redis_hub, submit  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def test_a_new_member_receives_the_teams_jobs_on_the_open_stream(app, users):  # noqa: F811
    lab, alice, bob = users["lab"], users["alice"], users["bob"]
    charlie, connected, _ = await connect(app, "/ws/jobs/", users["charlie"])
    assert connected
    hello = await charlie.receive_json_from()
    assert lab.id not in hello["teams"]
    await submit(bob, lab)
    assert await charlie.receive_nothing(0.3)  # not his team yet

    await sync_to_async(teams.add_member)(alice, lab.id, "charlie", "viewer")
    changed = await charlie.receive_json_from(timeout=5)
    assert changed["type"] == "teams" and lab.id in changed["teams"]
    job = await submit(bob, lab)
    frame = await charlie.receive_json_from(timeout=5)
    assert (frame["job"], frame["kind"]) == (str(job.id), "queued")

    await sync_to_async(teams.remove_member)(alice, lab.id, "charlie")
    changed = await charlie.receive_json_from(timeout=5)
    assert changed["type"] == "teams" and lab.id not in changed["teams"]
    await submit(bob, lab)
    assert await charlie.receive_nothing(0.3)
    await charlie.disconnect()


async def test_a_removed_member_s_job_socket_is_closed(app, users):  # noqa: F811
    lab = users["lab"]
    job = await submit(users["bob"], lab)
    viola, connected, _ = await connect(app, f"/ws/jobs/{job.id}/", users["viola"])
    assert connected
    await viola.receive_json_from()  # hello
    await sync_to_async(teams.change_role)(users["alice"], lab.id, "viola", "member")
    assert await viola.receive_nothing(0.3)  # still in the team: nothing changes for this socket
    await sync_to_async(teams.remove_member)(users["alice"], lab.id, "viola")
    closed = await viola.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4404}


@pytest.mark.production
async def test_the_notice_reaches_every_web_process_over_redis(app, users, redis_hub):  # noqa: F811
    hub, other = redis_hub
    charlie, connected, _ = await connect(app, "/ws/jobs/", users["charlie"])
    assert connected
    await charlie.receive_json_from()  # hello
    heard: list[str] = []

    async def record(message):
        heard.append(message["text"])

    (await other.subscribe([bus.user_group(users["charlie"].pk)], record)).start()  # another web process
    await sync_to_async(teams.add_member)(users["alice"], users["lab"].id, "charlie", "member")
    changed = await charlie.receive_json_from(timeout=5)
    assert changed["type"] == "teams" and users["lab"].id in changed["teams"]
    await asyncio.sleep(0.2)
    assert heard == [bus.TEAMS_CHANGED]
    await charlie.disconnect()
