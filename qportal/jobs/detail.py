"""A job as the REST API shows it (``JobDetailOut``), read with three statements of ``queries``.

Every poll of ``GET /api/v1/jobs/{id}`` and the end of every ``?wait=`` long-poll read it; through
the ORM and ninja's ``from_orm`` it cost several times as much (bench/README.md, benchmark 2).
The access rule is ``get_job``'s: a job of a team the user is not a member of is not found.

The answer is a plain dict with ``JobDetailOut.from_orm(job).model_dump()``'s keys, values and types
(tests/test_job_detail.py compares them): the fields are read off model instances built with the
ORM's own converters, by the names the schemas list, so a plain field added to a schema is added
here too (one with a dotted alias or a resolver needs a line here; the tests fail until it has
one).  It is not validated by the schema again: ninja's validation costs more than the statements.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder

from qportal.accounts.access import NotFound
from qportal.jobs import queries, usage_events
from qportal.jobs.models import Job
from qportal.jobs.schemas import EventOut, JobOut

# JobOut's fields from the joined team, profile and creator, in the SELECT's order; every other field
# is the job's attribute of the field's name or alias (``team_id``, ``rerun_of_id``).
JOINED = ("team_name", "profile", "backend", "submitted_by")
JOB_FIELDS = [(name, field.alias or name) for name, field in JobOut.model_fields.items()]
EVENT_FIELDS = list(EventOut.model_fields)
_JSON = DjangoJSONEncoder()


def job_detail(user, job_id) -> dict:
    """``JobDetailOut.from_orm(services.get_job(user, job_id)).model_dump()``; ``NotFound`` as ``get_job``."""
    try:
        found = queries.visible_job_with_names(user, job_id)
    except (ValidationError, ValueError):  # not a job id
        found = None
    if found is None:
        raise NotFound("job not found")
    job, names = found
    detail = _job_out(job, dict(zip(JOINED, names, strict=True)))
    events = queries.events_of(job.id)
    detail["events"] = [event_out(event) for event in events]
    detail["results"] = queries.circuit_summaries_of(job.id)
    detail["usage"] = usage_events.from_events(events)
    return detail


def event_out(event) -> dict:
    """An event as ``EventOut`` shows it (in a job's ``events``)."""
    return {name: getattr(event, name) for name in EVENT_FIELDS}


def event_frame(event) -> dict:
    """An event as its websocket frame carries it: ``event_out`` with the job's id, ready for JSON
    (``created`` written as the API writes it)."""
    return {"job": str(event.job_id), **event_out(event), "created": _JSON.default(event.created)}


def job_summary(job: Job) -> dict:
    """``JobOut.from_orm(job).model_dump()`` of a job whose team, profile and creator are loaded
    (``services.submit_job``'s answer): no query, and far cheaper than ninja's (benchmark 4)."""
    creator = job.created_by.get_username() if job.created_by_id is not None else None
    names = (job.team.name, job.profile.name, job.profile.backend, creator)
    return _job_out(job, dict(zip(JOINED, names, strict=True)))


def _job_out(job: Job, joined: dict) -> dict:
    """JobOut's fields: the ``JOINED`` names given, the rest read off the job."""
    return {name: joined[name] if name in joined else _plain(getattr(job, attr)) for name, attr in JOB_FIELDS}


def _plain(value):
    """A choice (``JobStatus.QUEUED``, a ``str`` subclass) as the plain string the schema makes it."""
    return str(value) if isinstance(value, str) and type(value) is not str else value
