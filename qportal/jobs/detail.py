"""A job as the REST API shows it (``JobDetailOut``), read with three hand-written statements.

Every poll of ``GET /api/v1/jobs/{id}`` and the end of every ``?wait=`` long-poll read it.  Through
the ORM (``services.get_job``, then the events and circuits) and ninja's ``from_orm`` that cost ~2 ms
of CPU for a one-circuit job on SQLite, most of it building and compiling queries and resolving
attributes rather than running SQL (``qportal.rawsql``); written once here it costs ~0.25 ms.  The
access rule is ``get_job``'s: a job of a team the user is not a member of is not found.

The answer is a plain dict with ``JobDetailOut.from_orm(job).model_dump()``'s keys, values and types
(tests/test_job_detail.py compares them): the job's, events' and circuits' fields are read off model
instances built with the ORM's own converters (``rawsql.Columns.build``), by the names the schemas
list, so a plain field added to a schema is added here too (one with a dotted alias or a resolver
needs a line here; the tests fail until it has one).  It is not validated by the schema again:
ninja's validation alone costs more than the three statements, and its resolvers want a ``Job``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection

from qportal import rawsql
from qportal.accounts.access import NotFound, team_ids_sql
from qportal.accounts.models import Team
from qportal.jobs.models import Job, JobCircuit, JobEvent
from qportal.jobs.schemas import CircuitResultOut, EventOut, JobOut
from qportal.profiles.models import ExecutorProfile

# JobOut's fields from the joined team, profile and creator, in the SELECT's order; every other field
# is the job's attribute of the field's name or alias (``team_id``, ``rerun_of_id``).
JOINED = ("team_name", "profile", "backend", "submitted_by")
JOB_FIELDS = [(name, field.alias or name) for name, field in JobOut.model_fields.items()]
EVENT_FIELDS = list(EventOut.model_fields)
RESULT_FIELDS = list(CircuitResultOut.model_fields)


def job_detail(user, job_id) -> dict:
    """``JobDetailOut.from_orm(services.get_job(user, job_id)).model_dump()``; ``NotFound`` as ``get_job``."""
    try:
        key = Job._meta.pk.get_db_prep_value(job_id, connection)
    except (ValidationError, ValueError):
        raise NotFound("job not found") from None
    jobs = rawsql.columns(Job, "j")
    users = get_user_model()
    username = users._meta.get_field(users.USERNAME_FIELD).column
    # Of the joined rows only the names shown are read: no profile options, no password hash.
    teams_sql, teams_params = team_ids_sql(user)
    rows = rawsql.fetch(
        f'SELECT {jobs.select()}, "t"."name", "p"."name", "p"."backend", "u"."{username}" FROM {jobs.table()}'
        f' INNER JOIN {Team._meta.db_table} "t" ON "t"."id" = "j"."team_id"'
        f' INNER JOIN {ExecutorProfile._meta.db_table} "p" ON "p"."id" = "j"."profile_id"'
        f' LEFT OUTER JOIN {users._meta.db_table} "u" ON "u"."id" = "j"."created_by_id"'
        f' WHERE "j"."id" = %s AND "j"."team_id" IN ({teams_sql})',
        [key, *teams_params],
    )
    if not rows:
        raise NotFound("job not found")
    job = jobs.build(rows[0][: len(jobs)])
    detail = _job_out(job, dict(zip(JOINED, rows[0][len(jobs) :], strict=True)))
    detail["events"] = [
        {name: getattr(event, name) for name in EVENT_FIELDS} for event in _of_job(JobEvent, "e", key, "seq")
    ]
    detail["results"] = [
        {name: getattr(circuit, name) for name in RESULT_FIELDS} for circuit in _of_job(JobCircuit, "c", key, "index")
    ]
    return detail


def job_summary(job: Job) -> dict:
    """``JobOut.from_orm(job).model_dump()`` of a job whose team, profile and creator are loaded
    (``services.submit_job``'s answer): no query, and a tenth of ninja's cost."""
    creator = job.created_by.get_username() if job.created_by_id is not None else None
    names = (job.team.name, job.profile.name, job.profile.backend, creator)
    return _job_out(job, dict(zip(JOINED, names, strict=True)))


def _job_out(job: Job, joined: dict) -> dict:
    """JobOut's fields: the ``JOINED`` names given, the rest read off the job."""
    return {name: joined[name] if name in joined else _plain(getattr(job, attr)) for name, attr in JOB_FIELDS}


def _plain(value):
    """A choice (``JobStatus.QUEUED``, a ``str`` subclass) as the plain string the schema makes it."""
    return str(value) if isinstance(value, str) and type(value) is not str else value


def _of_job(model, alias: str, key, order: str) -> list:
    """The job's rows of ``model`` (events or circuits) in ``order``."""
    found = rawsql.columns(model, alias)
    rows = rawsql.fetch(
        f'SELECT {found.select()} FROM {found.table()} WHERE "{alias}"."job_id" = %s ORDER BY "{alias}"."{order}"',
        [key],
    )
    return [found.build(row) for row in rows]
