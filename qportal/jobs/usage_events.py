"""A job's usage as its events carry it: the estimate in ``queued``, IBM's own in ``estimate``
(once the job is submitted), what it used in the event that ended it.

The job's answer (``detail.job_detail``, ``JobDetailOut.usage``) reads it off the events it reads
anyway, so showing usage costs no query.
"""

from __future__ import annotations

FIELDS = ("qpu_seconds", "wall_seconds", "cpu_seconds")
PUBLIC = (*FIELDS, "ibm_estimated_qpu_seconds")
ENDS = ("done", "failed", "cancelled")  # the events that end a job carry what it used
CARRY_USAGE = (*ENDS, "estimate")


def public(used: dict) -> dict[str, float]:
    """What a job's ``done`` event tells of its usage (the fields that apply)."""
    return {name: used[name] for name in PUBLIC if used.get(name) is not None}


def from_events(events) -> dict[str, float] | None:
    """The job's ``usage`` object, read off its events (no query of its own): the estimate its
    ``queued`` event carries, IBM's estimate, what the event that ended it reports; None when
    none has any."""
    found: dict[str, float] = {}
    for event in events:
        data = event.data or {}
        if event.kind == "queued" and data.get("estimated_qpu_seconds") is not None:
            found["estimated_qpu_seconds"] = data["estimated_qpu_seconds"]
        elif event.kind in CARRY_USAGE and isinstance(data.get("usage"), dict):
            found.update(data["usage"])
    return found or None
