"""The append-only job event log and its live fan-out.

Every state change is one conditional UPDATE of named Job fields plus one JobEvent row, in one
transaction; the event's sequence number comes from ``Job.last_seq``.  Conditions are the named
``queries.Where`` conditions over the job's columns.  Websocket frames and worker
wake-ups are sent after commit, through the message bus (``qportal.jobs.bus``), and may be lost:
the database stays the record of truth.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from qportal.jobs import bus, queries
from qportal.jobs.detail import event_frame
from qportal.jobs.models import JobEvent
from qportal.jobs.queries import Where


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
        frame = event_frame(event)
        transaction.on_commit(lambda: publish(frame, team_id))
    return event


def publish(frame: dict[str, Any], team_id: int, *, wake: bool = False) -> None:
    """Send an event to the job's and the team's websockets (best effort, ``bus.Bus.publish``);
    ``wake``: also wake the workers for this (new) job."""
    bus.current().publish(frame, team_id, wake=wake)
