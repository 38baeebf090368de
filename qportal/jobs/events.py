"""The append-only job event log and its live fan-out.

Every state change is one conditional UPDATE of named Job fields plus one JobEvent row, in one
transaction; the event's sequence number comes from ``Job.last_seq``.  Conditions are the named
``queries.Where`` conditions over the job's columns.  Websocket frames and worker
wake-ups are sent after commit and may be lost: the database stays the record of truth.  Frames
go through the process-local fan-out (``qportal.jobs.fanout``), and so do worker wake-ups (in
production one Redis ``PUBLISH`` on its connection, in the embedded default a call on the
in-process worker's loop); cancel notices go through the channel layer.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from qportal.jobs import fanout, queries
from qportal.jobs.models import TERMINAL, JobEvent
from qportal.jobs.queries import Where

log = logging.getLogger(__name__)


def append_event(
    job_id,
    kind: str,
    *,
    message: str = "",
    data: dict[str, Any] | None = None,
    where: Where | None = None,
    fields: dict[str, Any] | None = None,
) -> JobEvent | None:
    """Apply ``fields`` to the job if it still matches ``where``, and record the event.

    Returns None (and writes nothing) when the condition no longer holds, e.g. a worker whose
    lease was taken over, or a cancel racing a finish.  One conditional ``UPDATE ... RETURNING``
    (an UPDATE and a SELECT where RETURNING is missing) and one INSERT, in one transaction.
    """
    with transaction.atomic():
        row = queries.advance_job(job_id, fields or {}, where)
        if row is None:
            return None
        seq, status, sub_status, team_id = row
        event = JobEvent(
            job_id=job_id, seq=seq, kind=kind, status=status, sub_status=sub_status, message=message, data=data or {}
        )
        queries.insert_event(event)
        frame = event.as_frame()
        transaction.on_commit(lambda: publish(frame, team_id))
    return event


def publish(frame: dict[str, Any], team_id: int, *, wake: bool = False) -> None:
    """Fan an event out to the job's and the team's websocket groups (best effort).

    One message for every web process (``qportal.jobs.fanout``), the frame encoded to JSON once.
    ``wake``: also wake the workers for this (new) job, in the same Redis round trip when there is one.
    """
    woken = False
    groups = [f"job.{frame['job']}", f"team.{team_id}"]
    if frame.get("status") in TERMINAL:
        groups.append(fanout.FINISHED_PREFIX + frame["job"])
    try:
        woken = fanout.hub().publish(groups, json.dumps(frame), wake_job=frame["job"] if wake else None)
    except Exception as exc:  # a lost frame is repaired by the client's refetch
        log.warning("could not publish event %s/%s: %s", frame["job"], frame["seq"], exc)
    if wake and not woken:
        wake_workers(frame["job"])


def wake_workers(job_id) -> None:
    """Hint the workers that a job is waiting (best effort; the sweeper finds it anyway).

    With Redis, one sync ``PUBLISH`` that every worker hears (``JobRunner`` subscribes to it): a
    channel-layer send from a request thread cost an event loop hop and channels_redis's own
    connection handling, several times the CPU of the PUBLISH.  Embedded: the worker serving in this
    process is woken on its loop; the channel layer only when no worker has registered there.
    """
    try:
        if fanout.hub().wake_workers(str(job_id)):
            return
        async_to_sync(get_channel_layer().send)(settings.JOB_CHANNEL, {"type": "job.wake", "job": str(job_id)})
    except Exception as exc:
        log.debug("wake-up for %s not sent: %s", job_id, exc)


def worker_group(worker_id: str) -> str:
    """The channel-layer group that reaches one worker (names allow only [a-zA-Z0-9_.-])."""
    return "worker." + re.sub(r"[^a-zA-Z0-9_.-]", "-", worker_id)[:90]


def notify_cancel(job_id, worker_id: str) -> None:
    """Tell the worker running ``job_id`` to look at it now (best effort; its heartbeat would)."""
    layer = get_channel_layer()
    try:
        async_to_sync(layer.group_send)(worker_group(worker_id), {"type": "job.cancel", "job": str(job_id)})
    except Exception as exc:
        log.debug("cancel notice for %s not sent: %s", job_id, exc)
