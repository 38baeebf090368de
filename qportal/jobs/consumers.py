"""Live job streams over websockets.

Event frames are ``detail.event_frame()`` dicts and carry the job's event sequence number ``seq``.
Right after accepting, each socket sends one ``{"type": "hello", ...}`` frame with the current
state (``last_seq`` per job), so a client that reconnects can tell at once whether it missed
something. Frames can be lost (delivery is at most once); clients refetch over REST when they see
a gap or reconnect. Membership is checked in ``connect()``: a socket for a job the user cannot see
is closed before it is accepted, exactly as for a job that does not exist.

A socket follows the user's teams as they change (``_teams_changed``): a ``teams`` frame says a
team stream now covers other teams; a job socket whose job the user can no longer see is closed.

Event frames come from the message bus (``qportal.jobs.bus``), through its process-local socket
fan-out, not from the channel layer: the consumers hold no channel-layer channel.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from qportal.accounts.access import team_filter, team_ids
from qportal.jobs import bus, fanout
from qportal.jobs.models import Job

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TRY_AGAIN = 1013


class _JobStream(AsyncJsonWebsocketConsumer):
    channel_layer_alias = None  # no channel-layer channel per socket: frames come from the bus
    subscription: fanout.Subscription | None = None

    async def _join(self, groups: list[str]) -> bool:
        """Subscribe before the state is read, so no event can fall between the two; the user's own
        group carries the notice that their teams changed (``bus.notify_teams_changed``)."""
        groups = [*groups, bus.user_group(self.scope["user"].pk)]
        try:
            self.subscription = await bus.current().subscribe(groups, self._send)
        except fanout.Unavailable:
            await self.close(code=CLOSE_TRY_AGAIN)
            return False
        return True

    async def _send(self, message: dict) -> None:
        if message.get("text") == bus.TEAMS_CHANGED:
            await self._teams_changed()
            return
        await self.base_send(message)

    async def _teams_changed(self) -> None:
        """The user joined or left a team, or their role changed."""

    async def _accept_with(self, hello: dict) -> None:
        await self.accept()
        await self.send_json(hello)
        self.subscription.start()  # frames that arrived meanwhile follow the hello

    def _leave(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None

    async def disconnect(self, code):
        self._leave()

    def _user(self):
        user = self.scope.get("user")
        return user if user is not None and user.is_authenticated else None


class TeamJobsConsumer(_JobStream):
    """``/ws/jobs/``: every job change in the user's teams."""

    async def connect(self):
        user = self._user()
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        teams = await database_sync_to_async(team_ids)(user)
        if await self._join([f"team.{tid}" for tid in teams]):
            await self._accept_with({"type": "hello", "teams": teams})

    async def _teams_changed(self) -> None:
        """Follow the user's teams as they are now, and say so with a ``teams`` frame (the page
        refetches, as after a hello)."""
        user = self._user()
        teams = await database_sync_to_async(team_ids)(user)
        if self.subscription is None:
            return
        self.subscription.regroup([*(f"team.{tid}" for tid in teams), bus.user_group(user.pk)])
        await self.send_json({"type": "teams", "teams": teams})


class JobConsumer(_JobStream):
    """``/ws/jobs/<id>/``: one job's events. Outsiders are closed before accept."""

    async def connect(self):
        user = self._user()
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        # Join before reading last_seq, so no event can fall between the two.
        if not await self._join([f"job.{job_id}"]):
            return
        state = await self._state(user, job_id)
        if state is None:
            self._leave()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self._accept_with({"type": "hello", "job": str(job_id), **state})

    async def _teams_changed(self) -> None:
        """A user who left the job's team is closed as an outsider would be."""
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        if await self._state(self._user(), job_id) is None and self.subscription is not None:
            self.subscription.kick(CLOSE_NOT_FOUND)  # this runs in its writer, which sends the close

    @database_sync_to_async
    def _state(self, user, job_id) -> dict | None:
        row = Job.objects.filter(team_filter(user), id=job_id).values("last_seq", "status").first()
        return row


class NoSuchStream(AsyncJsonWebsocketConsumer):
    """Any websocket path that names no stream (``/ws/jobs/not-a-uuid/``): accepted, then closed
    with 4404, so the client learns why instead of getting an HTTP 500."""

    async def connect(self):
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
