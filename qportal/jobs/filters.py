"""The one way a list of jobs is narrowed and ordered: the API's ``GET /api/v1/jobs`` and the list
page take the same parameters (``JobFilters``), meaning the same thing."""

from __future__ import annotations

import re
import uuid

from django.db import connections
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
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
    "creator": "creator_name",
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
# SQLite has no index for a substring: ``q`` and ``tag`` there look at the newest this many jobs
# that pass the other filters (PostgreSQL's trigram and jsonb indexes find them in all of them).
SQLITE_SEARCH_WINDOW = 100_000


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


def canonical_sort(sort: str | None) -> str:
    """``sort`` as one spelling (``-created`` for none): what a cursor is tied to."""
    name, descending = parse_sort(sort)
    return f"-{name}" if descending else name


def filter_jobs(jobs: QuerySet, filters: JobFilters) -> QuerySet:
    """``jobs`` narrowed by ``filters`` and ordered by ``filters.sort`` (a total order: ``sort_keys``):
    ``q`` searches names and tags (case-insensitive) and, when it is 4 or more hex digits (dashes
    allowed), the start of the id; ``tag`` is one whole tag; dates and times without a zone are in
    the server's zone; ``created_before`` excludes its instant; archived jobs only with ``archived``,
    and then only they.  Each filter is one an index serves on PostgreSQL (migration 0007); on
    SQLite ``q`` and ``tag`` look at the newest ``SQLITE_SEARCH_WINDOW`` jobs."""
    jobs = jobs.filter(archived_at__isnull=not filters.archived)
    if filters.status:
        if filters.status not in JobStatus.values:
            raise InvalidRequest(f"unknown status {filters.status!r}; one of {', '.join(JobStatus.values)}")
        jobs = jobs.filter(status=filters.status)
    if filters.profile:
        jobs = jobs.filter(profile__name=filters.profile)
    if filters.team is not None:
        jobs = jobs.filter(team_id=filters.team)
    if filters.session is not None:
        jobs = jobs.filter(session_id=filters.session)
    if filters.created_after:
        jobs = jobs.filter(created__gte=_aware(filters.created_after))
    if filters.created_before:
        jobs = jobs.filter(created__lt=_aware(filters.created_before))
    postgres = connections[jobs.db].vendor == "postgresql"
    if (filters.tag or filters.q) and not postgres:
        jobs = _newest_window(jobs)
    if filters.tag:
        # The |a|b| column (no tag holds a '|').  PostgreSQL also asks the jsonb, which its GIN index
        # finds; it has no statistics per element of a jsonb array, but estimates the LIKE from its
        # sample, so that a rare tag is read from the index and a common one newest first.
        whole = Q(tag_index__contains=f"|{filters.tag}|")
        jobs = jobs.filter(whole & Q(tags__contains=[filters.tag]) if postgres else whole)
    if filters.q:
        found = Q(name__icontains=filters.q) | Q(tag_index__icontains=filters.q)
        bounds = id_range(filters.q)
        if bounds:
            found |= Q(id__gte=bounds[0], id__lte=bounds[1])
        jobs = jobs.filter(found)
    name, descending = parse_sort(filters.sort)
    if name == "status":
        jobs = jobs.annotate(status_rank=STATUS_RANK)
    elif name == "creator":  # a deleted user's jobs have none: they sort as ""
        jobs = jobs.annotate(creator_name=Coalesce("created_by__username", Value("")))
    return jobs.order_by(*(f"-{field}" if desc else field for field, desc in sort_keys(filters.sort)))


def sort_keys(sort: str | None) -> tuple[tuple[str, bool], ...]:
    """The columns ``sort`` orders by, each with whether it descends: the sort's own column, then
    the newest first, then the id, so that no two jobs tie (what a cursor needs).  ``created``
    goes with the id in its own direction: the index on created serves both directions, the id
    only sorting jobs created in the same microsecond."""
    name, descending = parse_sort(sort)
    if name == "created":
        return (("created", descending), ("id", descending))
    return ((SORTS[name], descending), ("created", True), ("id", True))


def _newest_window(jobs: QuerySet) -> QuerySet:
    edge = list(jobs.order_by("-created").values_list("created", flat=True)[SQLITE_SEARCH_WINDOW - 1 :][:1])
    return jobs.filter(created__gte=edge[0]) if edge else jobs


def id_range(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The lowest and highest job id that start with ``text`` (as ``id_prefix`` reads it), or None:
    a range on the primary key, which its index serves on every database, where a LIKE on the
    uuid's text would need an index of its own."""
    prefix = id_prefix(text)
    if prefix is None:
        return None
    digits = prefix.replace("-", "")
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def id_prefix(text: str) -> str | None:
    """``text`` as the start of a job id in its canonical form (lower case, dashes after digits 8,
    12, 16 and 20), or None when it is not 4-32 hex digits."""
    digits = text.strip().lower().replace("-", "")
    if not _ID_PREFIX.match(digits):
        return None
    cuts = [0, 8, 12, 16, 20, 32]
    return "-".join(digits[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if digits[a:b])


def _aware(moment):
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
