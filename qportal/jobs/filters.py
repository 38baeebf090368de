"""The one way a list of jobs is narrowed and ordered: the API's ``GET /api/v1/jobs`` and the list
page take the same parameters (``JobFilters``), meaning the same thing."""

from __future__ import annotations

import re

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from pydantic import ValidationError

from executors.base import InvalidRequest
from qportal.jobs.models import JobStatus
from qportal.jobs.schemas import JobFilters

PARAMETERS = tuple(JobFilters.model_fields)
DEFAULT_SORT = "-created"
# What ``sort`` may name, and the column it orders by.
SORTS = {
    "created": "created",
    "name": "name",
    "status": "status_rank",
    "profile": "profile__name",
    "creator": "created_by__username",
    "team": "team__name",
    "circuits": "num_circuits",
}
# Statuses sort in the order a job lives through them, not alphabetically.
STATUS_RANK = Case(
    *(When(status=status, then=Value(rank)) for rank, status in enumerate(JobStatus.values)),
    default=Value(len(JobStatus.values)),
    output_field=IntegerField(),
)
_ID_PREFIX = re.compile(r"^[0-9a-f]{4,32}$")


def given_filters(params) -> dict[str, str]:
    """The filter parameters of a query string (the page's form) as typed, stripped."""
    return {name: params.get(name, "").strip() for name in PARAMETERS}


def parse_filters(given: dict[str, str]) -> JobFilters:
    """``JobFilters`` from ``given_filters``; empty values are no filter."""
    try:
        return JobFilters(**{name: value for name, value in given.items() if value})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(f"invalid filter: {problems}") from None


def parse_sort(sort: str | None) -> tuple[str, bool]:
    """(column name, descending) of a ``sort`` value such as ``-created``; an unknown column is refused."""
    sort = (sort or DEFAULT_SORT).strip()
    name = sort.removeprefix("-")
    if name not in SORTS:
        raise InvalidRequest(f"unknown sort {sort!r}; one of {', '.join(SORTS)}, with - first for descending")
    return name, sort.startswith("-")


def filter_jobs(jobs: QuerySet, filters: JobFilters) -> QuerySet:
    """``jobs`` narrowed by ``filters`` and ordered by ``filters.sort``: ``q`` searches names and tags
    (case-insensitive) and, when it is 4 or more hex digits (dashes allowed), the start of the id;
    dates and times without a zone are in the server's zone; ``created_before`` excludes its instant;
    archived jobs only with ``archived``, and then only they."""
    jobs = jobs.filter(archived_at__isnull=not filters.archived)
    if filters.status:
        if filters.status not in JobStatus.values:
            raise InvalidRequest(f"unknown status {filters.status!r}; one of {', '.join(JobStatus.values)}")
        jobs = jobs.filter(status=filters.status)
    if filters.profile:
        jobs = jobs.filter(profile__name=filters.profile)
    if filters.tag:
        jobs = jobs.filter(tag_index__contains=f"|{filters.tag}|")
    if filters.team is not None:
        jobs = jobs.filter(team_id=filters.team)
    if filters.q:
        found = Q(name__icontains=filters.q) | Q(tag_index__icontains=filters.q)
        prefix = id_prefix(filters.q)
        if prefix:
            found |= Q(id__startswith=prefix)
        jobs = jobs.filter(found)
    if filters.created_after:
        jobs = jobs.filter(created__gte=_aware(filters.created_after))
    if filters.created_before:
        jobs = jobs.filter(created__lt=_aware(filters.created_before))
    return _ordered(jobs, *parse_sort(filters.sort))


def id_prefix(text: str) -> str | None:
    """``text`` as the start of a job id in its canonical form (lower case, dashes after digits 8,
    12, 16 and 20), or None when it is not 4-32 hex digits.  PostgreSQL compares the uuid's text,
    which has the dashes; SQLite's column has none (Django takes them out of the value)."""
    digits = text.strip().lower().replace("-", "")
    if not _ID_PREFIX.match(digits):
        return None
    cuts = [0, 8, 12, 16, 20, 32]
    return "-".join(digits[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if digits[a:b])


def _ordered(jobs: QuerySet, name: str, descending: bool) -> QuerySet:
    if (name, descending) == ("created", True):
        return jobs.order_by("-created")  # the model's order, which the (team, -created) index serves
    if name == "status":
        jobs = jobs.annotate(status_rank=STATUS_RANK)
    column = SORTS[name]
    first = f"-{column}" if descending else column
    then = ("-id",) if name == "created" else ("-created", "-id")
    return jobs.order_by(first, *then)


def _aware(moment):
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
