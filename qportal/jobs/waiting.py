"""Long-poll: wait until a job is finished, woken by its live events, bounded by a timeout.

A request that asks to wait registers with this process's event fan-out (``qportal.jobs.fanout``,
the job's ``job.<id>`` group, as its websocket stream does) before it looks at the database, so an
event committed after the look still wakes it.  Frames can be lost, so the database is read again
every ``RECHECK_SECONDS`` as well: a lost frame costs at most that much latency, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import json
import logging

from asgiref.sync import sync_to_async

from qportal.jobs import fanout
from qportal.jobs.models import TERMINAL, Job

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60
RECHECK_SECONDS = 1.0
_TERMINAL = frozenset(str(status) for status in TERMINAL)


def _finished(job_id) -> bool:
    return Job.objects.filter(id=job_id, status__in=list(TERMINAL)).exists()


async def wait_until_finished(job_id, timeout: float) -> bool:
    """Return True once the job is done, failed or cancelled; False when ``timeout`` seconds pass first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    terminal_seen = asyncio.Event()

    async def on_frame(message: dict) -> None:
        if message.get("type") != "websocket.send":
            return  # the hub closing a lagging or cut-off subscriber: the database check still answers
        try:
            if json.loads(message["text"]).get("status") in _TERMINAL:
                terminal_seen.set()
        except (ValueError, KeyError, AttributeError):
            pass

    subscription = None
    try:
        subscription = await fanout.hub().subscribe([f"job.{job_id}"], on_frame)
        subscription.start()
    except Exception as exc:  # no live fan-out: the periodic database check below still answers
        log.debug("long-poll for %s without live events: %s", job_id, exc)
        subscription = None
    try:
        while True:
            if await sync_to_async(_finished)(job_id):
                return True
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
