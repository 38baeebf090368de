"""The one way a list of jobs is narrowed: the API's ``GET /api/v1/jobs`` and the list page take
the same parameters (``JobFilters``), meaning the same thing."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone
from pydantic import ValidationError

from executors.base import InvalidRequest
from qportal.jobs.models import JobStatus
from qportal.jobs.schemas import JobFilters

PARAMETERS = tuple(JobFilters.model_fields)


def parse_filters(params) -> JobFilters:
    """``JobFilters`` from a query string (the page's form); empty values are no filter."""
    given = {name: params.get(name, "").strip() for name in PARAMETERS}
    try:
        return JobFilters(**{name: value for name, value in given.items() if value})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(f"invalid filter: {problems}") from None


def filter_jobs(jobs: QuerySet, filters: JobFilters) -> QuerySet:
    """``jobs`` narrowed by ``filters``: ``q`` searches names and tags (case-insensitive); dates and
    times without a zone are in the server's zone; ``created_before`` excludes its instant; archived
    jobs only with ``archived``, and then only they."""
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
        jobs = jobs.filter(Q(name__icontains=filters.q) | Q(tag_index__icontains=filters.q))
    if filters.created_after:
        jobs = jobs.filter(created__gte=_aware(filters.created_after))
    if filters.created_before:
        jobs = jobs.filter(created__lt=_aware(filters.created_before))
    return jobs


def _aware(moment):
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
