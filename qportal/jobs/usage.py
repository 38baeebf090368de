"""Recording what each job used, once, at its finish; and the totals the usage page and API show.

``record`` runs inside the transaction that finishes the job (``store.finish_done`` and
``store.finish_failed``, after their conditional update on (id, attempt) succeeded), so the usage
row, the budget settlement and the job's final state commit together or not at all: a worker killed
between them leaves the job unfinished and unrecorded, and the worker that recovers it records it.
``UsageRecord.job_id`` is unique besides.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from executors.base import InvalidRequest
from qportal.jobs import budgets, queries
from qportal.jobs.models import JobEvent
from qportal.jobs.usage_events import FIELDS
from qportal.jobs.usage_models import UsageRecord
from qportal.profiles.models import ProfileKind

# Test-only (tests/production/test_usage_settlement.py): the worker writes this file's name with
# ".paused" appended and sleeps, inside the finishing transaction, before usage is recorded.
PAUSE_ENV = "QPORTAL_TEST_PAUSE_BEFORE_USAGE"


def _pause_for_tests() -> None:
    path = os.environ.get(PAUSE_ENV)
    if path and not os.path.exists(path + ".paused"):
        with open(path + ".paused", "w") as marker:
            marker.write(str(os.getpid()))
        time.sleep(3600)


def counts_as_qpu(kind: str) -> bool:
    return kind in (ProfileKind.IBM_CLOUD, ProfileKind.CLUSTER)


def record(job_id, *, profile: str, kind: str, backend: str, status: str, used: dict[str, float] | None) -> bool:
    """Write the job's usage row and settle its budget holds (call inside the finishing
    transaction, after its conditional update succeeded).  False when the job is gone.  Its two
    statements are hand-written (``queries``): they run at every job's finish (bench/README.md)."""
    _pause_for_tests()
    used = used or {}
    row = queries.job_owner(job_id)
    if row is None:
        return False
    team_id, user_id, username = row
    estimated = None
    if counts_as_qpu(kind):
        data = JobEvent.objects.filter(job_id=job_id, seq=1).values_list("data", flat=True).first() or {}
        estimated = data.get("estimated_qpu_seconds")
    record = UsageRecord(
        job_id=job_id,
        team_id=team_id,
        user_id=user_id,
        username=username or "",
        profile=profile[:100],
        backend=(used.get("backend") or backend or "")[:100],
        kind=kind,
        status=status,
        qpu_seconds=used.get("qpu_seconds"),
        wall_seconds=used.get("wall_seconds"),
        cpu_seconds=used.get("cpu_seconds"),
        estimated_qpu_seconds=estimated,
        ibm_estimated_qpu_seconds=used.get("ibm_estimated_qpu_seconds"),
        finished=timezone.now(),
    )
    queries.insert_usage(record)  # unique by job: the finish's conditional update lets one through
    if counts_as_qpu(kind):  # only QPU jobs hold or use budgets
        budgets.settle(job_id, used.get("qpu_seconds"), team_id, user_id)
    return True


def job_usage(job_id) -> dict[str, float] | None:
    """The recorded usage of a finished job (``qpu_seconds``, ``wall_seconds``, ``cpu_seconds``,
    the estimates; whichever apply), or None before its finish."""
    row = UsageRecord.objects.filter(job_id=job_id).first()
    if row is None:
        return None
    names = (*FIELDS, "estimated_qpu_seconds", "ibm_estimated_qpu_seconds")
    return {name: getattr(row, name) for name in names if getattr(row, name) is not None}


# -- totals ----------------------------------------------------------------------------------------
GROUPINGS = {"user": "username", "profile": "profile", "backend": "backend", "day": "day", "kind": "kind"}


def records(team_id: int, start: datetime | None, end: datetime | None):
    rows = UsageRecord.objects.filter(team_id=team_id)
    if start is not None:
        rows = rows.filter(finished__gte=start)
    if end is not None:
        rows = rows.filter(finished__lt=end)
    return rows


def totals(team_id: int, start: datetime | None, end: datetime | None, group_by: list[str]) -> dict[str, Any]:
    """Sums of qpu, wall and CPU seconds and job counts, for the team and per each grouping."""
    rows = records(team_id, start, end)
    sums = {f"{name}": Sum(name) for name in FIELDS}
    team = rows.aggregate(jobs=Count("id"), **sums)
    groups: dict[str, list[dict[str, Any]]] = {}
    for group in group_by:
        column = GROUPINGS[group]
        query = rows.annotate(day=TruncDay("finished", tzinfo=UTC)) if group == "day" else rows
        found = query.values(column).annotate(jobs=Count("id"), **sums).order_by(column)
        groups[group] = [
            {
                "key": item[column].date().isoformat() if group == "day" else item[column],
                "jobs": item["jobs"],
                **{name: item[name] or 0.0 for name in FIELDS},
            }
            for item in found
        ]
    return {"total": {"jobs": team["jobs"], **{name: team[name] or 0.0 for name in FIELDS}}, "groups": groups}


def per_day_by_user(team_id: int, start: datetime | None, end: datetime | None) -> dict[str, dict[str, float]]:
    """QPU seconds per day and person (the chart)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    rows = records(team_id, start, end).annotate(day=TruncDay("finished", tzinfo=UTC))
    for item in rows.values("day", "username").annotate(qpu=Sum("qpu_seconds")).order_by("day"):
        out[item["day"].date().isoformat()][item["username"]] = item["qpu"] or 0.0
    return dict(out)


def date_range(period: str | None, start: date | None, end: date | None, now: datetime | None = None):
    """``(from, to)`` datetimes (UTC; ``to`` exclusive): the current ``period`` (day, week, month),
    or ``start``..``end`` inclusive dates, or everything (``all``).  Default: the current month."""
    now = now or timezone.now()
    if start is not None or end is not None:
        if period:
            raise InvalidRequest("give either period or from/to, not both")
        low = datetime.combine(start, dt_time.min, tzinfo=UTC) if start else None
        high = datetime.combine(end + timedelta(days=1), dt_time.min, tzinfo=UTC) if end else None
        if low and high and low >= high:
            raise InvalidRequest("from must be on or before to")
        return low, high
    period = period or "month"
    if period == "all":
        return None, None
    if period not in ("day", "week", "month"):
        raise InvalidRequest(f"period must be day, week, month or all, not {period!r}")
    low = budgets.window_start(period, now)
    return low, budgets.window_end(period, low)


def clean_groups(group_by: str) -> list[str]:
    groups = [part.strip() for part in (group_by or "").split(",") if part.strip()]
    unknown = [part for part in groups if part not in GROUPINGS]
    if unknown:
        raise InvalidRequest(f"group_by: unknown {', '.join(unknown)}; choose from {', '.join(GROUPINGS)}")
    return list(dict.fromkeys(groups))


CSV_COLUMNS = [
    "finished",
    "job_id",
    "user",
    "profile",
    "backend",
    "kind",
    "status",
    *FIELDS,
    "estimated_qpu_seconds",
    "ibm_estimated_qpu_seconds",
]


def csv_rows(team_id: int, start: datetime | None, end: datetime | None):
    """One row per job (header first), oldest first, for the CSV export."""
    yield CSV_COLUMNS
    for row in records(team_id, start, end).order_by("finished").iterator(chunk_size=500):
        yield [
            row.finished.isoformat(),
            str(row.job_id),
            row.username,
            row.profile,
            row.backend,
            row.kind,
            row.status,
            *("" if getattr(row, name) is None else getattr(row, name) for name in CSV_COLUMNS[7:]),
        ]
