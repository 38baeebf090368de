"""Every hand-written statement of the jobs app, by name (procrastinate's ``sql/queries.sql`` is the model).

These are the statements on every job's and every poll's path: building the ORM's query cost
several times what running it costs (bench/README.md, benchmarks 2 and 4).  Everything else in
the app uses the ORM.  Identifiers are always double-quoted (``rawsql.quoted``); every value is a
parameter.  A field added to ``Job`` needs nothing here unless a statement names it: the SELECTs
read the model's concrete columns (``rawsql.columns``) and the INSERTs write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from executors.base import CircuitResult
from qportal import rawsql
from qportal.accounts.access import team_ids_sql
from qportal.accounts.models import IBMCredential, Team
from qportal.jobs import stored_results
from qportal.jobs.models import ACTIVE, Job, JobCircuit, JobEvent, JobStatus
from qportal.profiles.models import ExecutorProfile

JOB, CIRCUIT, EVENT = (rawsql.quoted(model) for model in (Job, JobCircuit, JobEvent))


# --- conditions on a job's row (its own table, no alias unless given) ---


@dataclass(frozen=True)
class Where:
    """A condition on the job's row: SQL over the job table's columns, with its parameters."""

    sql: str
    params: tuple = ()

    def __and__(self, other: Where) -> Where:
        return Where(f"({self.sql}) AND ({other.sql})", self.params + other.params)

    def __or__(self, other: Where) -> Where:
        return Where(f"({self.sql}) OR ({other.sql})", self.params + other.params)


@dataclass(frozen=True)
class Computed:
    """A field value the database computes from the row (``circuits_done_plus``)."""

    sql: str


def circuits_done_plus(count: int) -> Computed:
    return Computed(f'"circuits_done" + {int(count)}')


def _col(name: str, alias: str = "") -> str:
    return f'"{alias}"."{name}"' if alias else f'"{name}"'


def status_in(statuses, alias: str = "") -> Where:
    statuses = [str(s) for s in statuses]
    return Where(f"{_col('status', alias)} IN ({', '.join(['%s'] * len(statuses))})", tuple(statuses))


def claimable(now, alias: str = "") -> Where:
    """Queued and due, or active with an expired lease."""
    when = rawsql.db_value(Job, "lease_until", now)
    not_before = _col("not_before", alias)
    waiting = Where(
        f"{_col('status', alias)} = %s AND ({not_before} IS NULL OR {not_before} <= %s)",
        (JobStatus.QUEUED.value, when),
    )
    return waiting | (status_in(ACTIVE, alias) & Where(f"{_col('lease_until', alias)} < %s", (when,)))


def held_by(attempt: int) -> Where:
    """Still active and still this attempt's (no other worker took it over)."""
    return Where('"attempt" = %s', (attempt,)) & status_in(ACTIVE)


def unchanged_since(attempt: int, status: str) -> Where:
    return Where('"attempt" = %s AND "status" = %s', (attempt, status))


def sub_status_is_not(text: str) -> Where:
    return Where('"sub_status" <> %s', (text,))


def is_queued() -> Where:
    return Where('"status" = %s', (JobStatus.QUEUED.value,))


def unfinished() -> Where:
    return status_in([JobStatus.QUEUED, *ACTIVE])


def archived() -> Where:
    return Where('"archived_at" IS NOT NULL')


def not_archived() -> Where:
    return Where('"archived_at" IS NULL')


def running_without_cancel() -> Where:
    return status_in(ACTIVE) & Where('"cancel_requested" = %s', (rawsql.db_value(Job, "cancel_requested", False),))


# --- the statements ---


def advance_job(job_id, fields: dict[str, Any], where: Where | None) -> tuple | None:
    """Apply ``fields`` and one more sequence number to the job if it matches ``where``:
    (last_seq, status, sub_status, team_id) after the update, or None when nothing matched.
    ``UPDATE ... RETURNING``, or an UPDATE and a SELECT where RETURNING is missing (caller's transaction)."""
    assignments, params = ['"last_seq" = "last_seq" + 1'], []
    for name, value in fields.items():
        column = f'"{Job._meta.get_field(name).column}"'
        if isinstance(value, Computed):
            assignments.append(f"{column} = {value.sql}")
        else:
            assignments.append(f"{column} = %s")
            params.append(rawsql.db_value(Job, name, value))
    key = rawsql.db_value(Job, "id", job_id)
    condition = '"id" = %s' if where is None else f'"id" = %s AND ({where.sql})'
    params += [key, *(where.params if where is not None else ())]
    update = f"UPDATE {JOB} SET {', '.join(assignments)} WHERE {condition}"
    read = '"last_seq", "status", "sub_status", "team_id"'
    if rawsql.returning_supported():
        rows = rawsql.fetch(f"{update} RETURNING {read}", params)
    elif rawsql.execute(update, params):
        rows = rawsql.fetch(f'SELECT {read} FROM {JOB} WHERE "id" = %s', [key])
    else:
        rows = []
    return rows[0] if rows else None


def insert_event(event: JobEvent) -> None:
    for sql, params in rawsql.insert([event]):
        rawsql.execute(sql, params)


def insert_job(job: Job, rows: list[JobCircuit], event: JobEvent) -> None:
    """The job, its circuits and its first event, all or nothing (the values the ORM's insert would send).

    PostgreSQL: one statement, the inserts chained as data-modifying CTEs, which PostgreSQL runs
    as one transaction in one round trip (foreign keys checked at the end of the statement).
    Other databases: the same inserts in ``transaction.atomic()``.
    """
    statements = rawsql.insert([job]) + rawsql.insert(rows) + rawsql.insert([event])
    if rawsql.current().vendor == "postgresql":
        *first, (last, _) = statements
        sql = "WITH " + ", ".join(f'"w{i}" AS ({part})' for i, (part, _) in enumerate(first)) + " " + last
        params = [value for _, params in statements for value in params]
        if rawsql.current().in_atomic_block:  # a savepoint: a refused insert leaves the caller's transaction usable
            with transaction.atomic():
                rawsql.execute(sql, params)
        else:
            rawsql.execute(sql, params)
        return
    with transaction.atomic():
        for sql, params in statements:
            rawsql.execute(sql, params)


def claim_turns(now, count: int) -> list:
    """Ids of up to ``count`` claimable jobs in the order they take turns.

    A person's unfinished jobs are numbered, those already running first, then the queued ones
    oldest first; jobs are taken by that turn, then by the same numbering within the team, then
    oldest first.  One person's backlog therefore delays another's single job by at most one job
    per slot.  One scan of the unfinished jobs (the status index; the queue limits keep them few)
    and no join, so the plan stays linear whatever the planner's statistics say.
    """
    condition = claimable(now)
    unfinished = status_in([JobStatus.QUEUED, *ACTIVE])
    running_first = 'CASE WHEN "status" = %s THEN 1 ELSE 0 END, "created"'
    rows = rawsql.fetch(
        'SELECT "id" FROM (SELECT "id", "created",'
        f' CASE WHEN {condition.sql} THEN 1 ELSE 0 END AS "due",'
        f' ROW_NUMBER() OVER (PARTITION BY "created_by_id" ORDER BY {running_first}) AS "person_turn",'
        f' ROW_NUMBER() OVER (PARTITION BY "team_id" ORDER BY {running_first}) AS "team_turn"'
        f' FROM {JOB} WHERE {unfinished.sql}) "turns"'
        ' WHERE "due" = 1 ORDER BY "person_turn", "team_turn", "created" LIMIT %s',
        [*condition.params, JobStatus.QUEUED.value, JobStatus.QUEUED.value, *unfinished.params, count],
    )
    return [row[0] for row in rows]


def lock_claimable(now, job_ids: list) -> list[tuple]:
    """(id, status, attempt, profile kind, recoveries) of those of ``job_ids`` still claimable; on PostgreSQL
    locked with SKIP LOCKED, so workers never wait on each other (caller's transaction)."""
    if not job_ids:
        return []
    condition = claimable(now, "j")
    lock = ' FOR UPDATE OF "j" SKIP LOCKED' if rawsql.current().features.has_select_for_update_skip_locked else ""
    return rawsql.fetch(
        f'SELECT "j"."id", "j"."status", "j"."attempt", "p"."kind", "j"."recoveries" FROM {JOB} "j"'
        f' INNER JOIN {rawsql.quoted(ExecutorProfile)} "p" ON "p"."id" = "j"."profile_id"'
        f' WHERE "j"."id" IN ({", ".join(["%s"] * len(job_ids))}) AND {condition.sql}{lock}',
        [*job_ids, *condition.params],
    )


def unfinished_counts(user_id: int, team_id: int) -> tuple[int, int]:
    """How many of the person's, and of the team's, jobs are queued or active (the status index
    finds them; the queue limits keep them few)."""
    unfinished = status_in([JobStatus.QUEUED, *ACTIVE])
    rows = rawsql.fetch(
        f'SELECT (SELECT COUNT(*) FROM {JOB} WHERE "created_by_id" = %s AND {unfinished.sql}),'
        f' (SELECT COUNT(*) FROM {JOB} WHERE "team_id" = %s AND {unfinished.sql})',
        [user_id, *unfinished.params, team_id, *unfinished.params],
    )
    return rows[0]


def claimed_job(job_id, attempt: int) -> Job | None:
    """The job if ``attempt`` still holds it, with its profile and the profile's credential attached."""
    jobs = rawsql.columns(Job, "j")
    profiles = rawsql.columns(ExecutorProfile, "p")
    credentials = rawsql.columns(IBMCredential, "k")
    found = rawsql.fetch(
        f"SELECT {jobs.select()}, {profiles.select()}, {credentials.select()} FROM {jobs.table()}"
        f' INNER JOIN {profiles.table()} ON "p"."id" = "j"."profile_id"'
        f' LEFT OUTER JOIN {credentials.table()} ON "k"."id" = "p"."credential_id"'
        f' WHERE "j"."id" = %s AND "j"."attempt" = %s',
        [rawsql.db_value(Job, "id", job_id), attempt],
    )
    if not found:
        return None
    row, n, p = found[0], len(jobs), len(profiles)
    job, profile = jobs.build(row[:n]), profiles.build(row[n : n + p])
    ExecutorProfile.credential.field.set_cached_value(
        profile, credentials.build(row[n + p :]) if profile.credential_id is not None else None
    )
    Job.profile.field.set_cached_value(job, profile)
    return job


def circuits_of(job_id) -> list[JobCircuit]:
    """The job's circuits in index order."""
    return _rows_of_job(JobCircuit, "c", job_id, "index")


def events_of(job_id) -> list[JobEvent]:
    """The job's events in sequence order."""
    return _rows_of_job(JobEvent, "e", job_id, "seq")


SUMMARY_FIELDS = (
    *("index", "name", "num_qubits", "done", "shots", "outcomes", "top_outcome", "top_count", "evs", "stds"),
    "shape",
)


def circuit_summaries_of(job_id, offset: int = 0, limit: int | None = None) -> list[dict]:
    """The job's circuits in index order as ``CircuitSummaryOut`` dicts: the small columns only,
    never the source or the stored distribution; with ``limit``, circuits ``offset`` onwards
    (a range of the (job, index) key)."""
    found = rawsql.columns(JobCircuit, "c", SUMMARY_FIELDS)
    where, params = '"c"."job_id" = %s', [rawsql.db_value(Job, "id", job_id)]
    if limit is not None:
        where += ' AND "c"."index" >= %s AND "c"."index" < %s'
        params += [offset, offset + limit]
    rows = rawsql.fetch(f'SELECT {found.select()} FROM {found.table()} WHERE {where} ORDER BY "c"."index"', params)
    return [found.values(row) for row in rows]


def _rows_of_job(model, alias: str, job_id, order: str) -> list:
    found = rawsql.columns(model, alias)
    rows = rawsql.fetch(
        f'SELECT {found.select()} FROM {found.table()} WHERE "{alias}"."job_id" = %s ORDER BY "{alias}"."{order}"',
        [rawsql.db_value(Job, "id", job_id)],
    )
    return [found.build(row) for row in rows]


def save_results(job_id, results, *, only_new: bool = False) -> int:
    """Write circuits' results (``CircuitResult``s, stored as ``stored_results.row_values`` says;
    ``only_new``: unless already stored); the rows changed."""
    names = list(stored_results.row_values(CircuitResult(index=0)))
    columns = ", ".join(f'"{JobCircuit._meta.get_field(name).column}" = %s' for name in ("done", *names))
    sql = f'UPDATE {CIRCUIT} SET {columns} WHERE "job_id" = %s AND "index" = %s'
    if only_new:
        sql += ' AND "done" = %s'
    key = rawsql.db_value(Job, "id", job_id)
    changed = 0
    for result in results:
        values = [rawsql.db_value(JobCircuit, "done", True)]
        values += [
            rawsql.db_value(JobCircuit, name, value) for name, value in stored_results.row_values(result).items()
        ]
        values += [key, result.index] + ([rawsql.db_value(JobCircuit, "done", False)] if only_new else [])
        changed += rawsql.execute(sql, values)
    return changed


def visible_job_with_names(user, job_id) -> tuple[Job, tuple] | None:
    """The job if ``user`` may see it (the access rule's SQL form), and the names a job's answer
    shows: (team name, profile name, backend, creator's username).  Of the joined rows only those
    names are read: no profile options, no password hash."""
    jobs = rawsql.columns(Job, "j")
    users = get_user_model()
    username = users._meta.get_field(users.USERNAME_FIELD).column
    teams_sql, teams_params = team_ids_sql(user)
    rows = rawsql.fetch(
        f'SELECT {jobs.select()}, "t"."name", "p"."name", "p"."backend", "u"."{username}" FROM {jobs.table()}'
        f' INNER JOIN {rawsql.quoted(Team)} "t" ON "t"."id" = "j"."team_id"'
        f' INNER JOIN {rawsql.quoted(ExecutorProfile)} "p" ON "p"."id" = "j"."profile_id"'
        f' LEFT OUTER JOIN {rawsql.quoted(users)} "u" ON "u"."id" = "j"."created_by_id"'
        f' WHERE "j"."id" = %s AND "j"."team_id" IN ({teams_sql})',
        [rawsql.db_value(Job, "id", job_id), *teams_params],
    )
    if not rows:
        return None
    return jobs.build(rows[0][: len(jobs)]), tuple(rows[0][len(jobs) :])


def job_owner(job_id) -> tuple[int, int | None, str] | None:
    """The job's ``(team_id, created_by_id, username)`` as it is now, for its usage record."""
    found = rawsql.fetch(
        f'SELECT "j"."team_id", "j"."created_by_id", "u"."username" FROM {JOB} "j"'
        f' LEFT OUTER JOIN {rawsql.quoted(get_user_model())} "u" ON "u"."id" = "j"."created_by_id"'
        f' WHERE "j"."id" = %s',
        [rawsql.db_value(Job, "id", job_id)],
    )
    return (found[0][0], found[0][1], found[0][2] or "") if found else None


def insert_usage(record) -> None:
    """A finished job's ``UsageRecord`` (``qportal.jobs.usage.record``): on every job's finish."""
    for sql, params in rawsql.insert([record]):
        rawsql.execute(sql, params)
