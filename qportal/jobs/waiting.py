"""Long-poll: wait until a job is finished, woken by its live events, bounded by a timeout.

A request that asks to wait subscribes to the job's channel-layer group (the one its websocket
stream uses) before it looks at the database, so an event committed after the look still wakes
it.  Frames can be lost, so the database is read again every ``RECHECK_SECONDS`` as well: a lost
frame costs at most that much latency, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

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
    layer = get_channel_layer()
    group = f"job.{job_id}"
    channel = None
    try:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
    except Exception as exc:  # no live layer: the periodic database check below still answers
        log.debug("long-poll for %s without live events: %s", job_id, exc)
        channel = None
    try:
        while True:
            if await sync_to_async(_finished)(job_id):
                return True
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                step = min(remaining, RECHECK_SECONDS)
                if channel is None:
                    await asyncio.sleep(step)
                    break
                try:
                    message = await asyncio.wait_for(layer.receive(channel), step)
                except TimeoutError:
                    break  # read the database again
                frame = message.get("event") or {}
                if frame.get("status") in _TERMINAL:
                    return True  # sent after the commit: the caller's next read sees it
    finally:
        if channel is not None:
            try:
                await layer.group_discard(group, channel)
            except Exception as exc:
                log.debug("could not leave %s: %s", group, exc)
