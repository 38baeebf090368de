"""Live job streams. Frames carry the event sequence number; clients refetch over REST on a gap."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from qportal.accounts.access import team_ids
from qportal.jobs.models import Job


class TeamJobsConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/jobs/``: every job change in the user's teams."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined = [f"team.{tid}" for tid in await database_sync_to_async(team_ids)(user)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def job_event(self, message):
        await self.send_json(message["event"])


class JobConsumer(TeamJobsConsumer):
    """``/ws/jobs/<id>/``: one job's events. Outsiders are closed before accept."""

    async def connect(self):
        user = self.scope.get("user")
        job_id = self.scope["url_route"]["kwargs"]["job_id"]
        if user is None or not user.is_authenticated or not await self._member(user, job_id):
            await self.close(code=4404)
            return
        self.groups_joined = [f"job.{job_id}"]
        await self.channel_layer.group_add(self.groups_joined[0], self.channel_name)
        await self.accept()

    @database_sync_to_async
    def _member(self, user, job_id) -> bool:
        return Job.objects.filter(id=job_id, team_id__in=team_ids(user)).exists()
