"""Long-poll: wait until a job is finished, woken by its live events, bounded by a timeout.

A request that asks to wait subscribes to the job's frames on the message bus (``qportal.jobs.bus``,
the job's ``job.<id>`` group, as its websocket stream does); a job whose finishing frame came
before that is known to the bus (``Bus.finished``).  Frames can be lost, so the database is read
every ``RECHECK_SECONDS`` as well (at once when there is no live fan-out): a lost frame costs at
most that much latency, never a wrong answer.

A view answers with ``LongPoll``, a response finished later (``qportal.handler.FinishedLater``):
the request thread is released, the wait happens on the event loop, and the job is read once more
when it ends.
"""

from __future__ import annotations

import asyncio
import json
import logging

from django.http import JsonResponse
from ninja.responses import NinjaJSONEncoder

from qportal.accounts.access import NotFound
from qportal.handler import FinishedLater, RunSync, in_sync_thread, set_body
from qportal.jobs import bus
from qportal.jobs.detail import job_detail
from qportal.jobs.models import TERMINAL, Job

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60
RECHECK_SECONDS = 1.0


def _finished(job_id) -> bool:
    """Done, failed or cancelled, or deleted: nothing more will happen to it."""
    return not Job.objects.filter(id=job_id).exclude(status__in=list(TERMINAL)).exists()


async def wait_until_finished(job_id, timeout: float, run_sync: RunSync = in_sync_thread) -> bool:
    """Return True once the job is done, failed or cancelled (or deleted); False when ``timeout``
    seconds pass first.

    ``run_sync(fn, *args)`` runs the database check in a thread (the caller's choice of thread).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    terminal_seen = asyncio.Event()

    async def on_frame(message: dict) -> None:
        if message.get("type") != "websocket.send":
            return  # the fan-out closing a lagging or cut-off subscriber: the database check still answers
        try:
            if json.loads(message["text"]).get("status") in TERMINAL:
                terminal_seen.set()
        except (ValueError, KeyError, AttributeError):
            pass

    events, subscription = bus.current(), None
    try:
        subscription = await events.subscribe([f"job.{job_id}"], on_frame)
        subscription.start()
    except Exception as exc:  # no live fan-out: the periodic database check below still answers
        log.debug("long-poll for %s without live events: %s", job_id, exc)
        subscription = None
    # Subscribed, with the frames that came before remembered by the bus: the first database read
    # can wait for the recheck (a lost frame costs that much, as everywhere here).
    read_now = subscription is None
    try:
        while True:
            if subscription is not None and events.finished(job_id):
                return True
            if read_now and await run_sync(_finished, job_id):
                return True
            read_now = True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(terminal_seen.wait(), min(remaining, RECHECK_SECONDS))
                return True  # the frame is sent after the commit: the caller's next read sees it
            except TimeoutError:
                pass  # read the database again
    finally:
        if subscription is not None:
            subscription.close()


class LongPoll(FinishedLater, JsonResponse):
    """The answer to a ``?wait=`` request: the job as ``user`` sees it (``detail.job_detail``) once it
    has finished or the wait is over, completed on the event loop (``FinishedLater``)."""

    def __init__(self, user, job_id, wait: float, status: int):
        super().__init__({}, status=status, encoder=NinjaJSONEncoder)
        self.user, self.job_id, self.wait = user, job_id, wait

    async def finish(self, run_sync: RunSync) -> None:
        await wait_until_finished(self.job_id, self.wait, run_sync)
        set_body(self, await run_sync(self.encoded))

    def encoded(self) -> bytes:
        try:
            return json.dumps(job_detail(self.user, self.job_id), cls=NinjaJSONEncoder).encode()
        except NotFound:  # deleted while the request waited
            self.status_code = 404
            return json.dumps({"detail": "job not found"}).encode()


DELETE_WAIT_SECONDS = 30


class DeleteWhenStopped(FinishedLater, JsonResponse):
    """The answer to ``DELETE /api/v1/jobs/{id}`` for a job whose worker was just told to stop it:
    once it has stopped (at most ``DELETE_WAIT_SECONDS``), it is deleted and the answer is 204;
    a job still running then is a 409, and is left cancelling."""

    def __init__(self, job_id, by: str, delete):
        super().__init__({}, status=204)
        self.job_id, self.by, self.delete = job_id, by, delete

    async def finish(self, run_sync: RunSync) -> None:
        await wait_until_finished(self.job_id, DELETE_WAIT_SECONDS, run_sync)
        if await run_sync(self.delete, self.job_id, self.by):
            set_body(self, b"")
            return
        self.status_code = 409
        detail = f"cancel requested, but the job has not stopped within {DELETE_WAIT_SECONDS} s; delete it again later"
        set_body(self, json.dumps({"detail": detail}).encode())
