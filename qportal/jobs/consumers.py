"""Live job streams over websockets.

Event frames are ``JobEvent.as_frame()`` dicts and carry the job's event sequence number ``seq``.
Right after accepting, each socket sends one ``{"type": "hello", ...}`` frame with the current
state (``last_seq`` per job), so a client that reconnects can tell at once whether it missed
something. Frames can be lost (the channel layer delivers at most once); clients refetch over REST
when they see a gap or reconnect. Membership is checked in ``connect()``: a socket for a job the
user cannot see is closed before it is accepted, exactly as for a job that does not exist.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from qportal.accounts.access import team_ids
from qportal.jobs.models import Job

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class _JobStream(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def _join(self, groups: list[str]) -> None:
        self.groups_joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def job_event(self, message):
        await self.send_json(message["event"])

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
        await self._join([f"team.{tid}" for tid in teams])
        await self.accept()
        await self.send_json({"type": "hello", "teams": teams})


class JobConsumer(_JobStream):
    """``/ws/jobs/<id>/``: one job's events. Outsiders are closed before accept."""

    async def connect(self):
        user = self._user()
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        # Join before reading last_seq, so no event can fall between the two.
        await self._join([f"job.{job_id}"])
        state = await self._state(user, job_id)
        if state is None:
            await self.disconnect(CLOSE_NOT_FOUND)
            self.groups_joined = []
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept()
        await self.send_json({"type": "hello", "job": str(job_id), **state})

    @database_sync_to_async
    def _state(self, user, job_id) -> dict | None:
        row = Job.objects.filter(id=job_id, team_id__in=team_ids(user)).values("last_seq", "status").first()
        return row
