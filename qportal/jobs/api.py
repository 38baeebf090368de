"""REST endpoints for jobs: thin wrappers around ``qportal.jobs.services``."""

from typing import Any
from uuid import UUID

from django.http import JsonResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import PaginationBase, paginate
from ninja.responses import NinjaJSONEncoder

from executors.base import InvalidRequest
from qportal.input import BoundedLimitOffset
from qportal.jobs import downloads, history, services
from qportal.jobs.detail import job_detail, job_summary
from qportal.jobs.filters import canonical_sort, filter_jobs, sort_keys
from qportal.jobs.models import TERMINAL
from qportal.jobs.schemas import CircuitResultOut, EventOut, JobDetailOut, JobFilters, JobIn, JobOut
from qportal.jobs.usage_schemas import BudgetRefusalOut, DryRunOut
from qportal.jobs.waiting import DELETE_WAIT_SECONDS, MAX_WAIT_SECONDS, DeleteWhenStopped, LongPoll

router = Router(tags=["jobs"])


WAIT_HELP = (
    f"Seconds (0-{MAX_WAIT_SECONDS}) to hold the response until the job is done, failed or cancelled; "
    "it answers with the job as it is when the wait ends"
)


MEMORY_HELP = "true: each shot's bitstring, in shot order, for circuits that kept them (`has_memory`)"


def _check_wait(wait: float) -> None:
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise InvalidRequest(f"wait must be between 0 and {MAX_WAIT_SECONDS} seconds, got {wait}")


@router.post(
    "/jobs",
    response={200: JobDetailOut | JobOut | DryRunOut, 201: JobDetailOut | JobOut, 402: BudgetRefusalOut},
    summary="Submit a job",
    description="With `wait`, the answer is the whole job (events and results, as from GET) once it has "
    "finished or the wait is over. With an `Idempotency-Key` header, a retry with the same key answers 200 "
    'with the job the first request made, and makes no second one. With `"dry_run": true` it validates '
    "everything, stores nothing and answers 200 with `estimated_qpu_seconds` and what it was computed from. "
    "A job on an IBM profile that does not fit a QPU budget (or the instance's remaining seconds) is a 402.",
)
def submit(request, payload: JobIn, wait: float = Query(0, description=WAIT_HELP)):
    _check_wait(wait)
    sub = services.Submission(
        profile=payload.profile,
        circuits=[c.dict(exclude_none=True) for c in payload.circuits],
        shots=payload.shots,
        primitive=payload.primitive,
        observables=payload.observables,
        parameter_values=payload.parameter_values,
        name=payload.name,
        tags=payload.tags,
        team=payload.team,
        memory=payload.memory,
        options=payload.options,
        session=payload.session,
    )
    if payload.dry_run:
        return JsonResponse(services.dry_run_job(request.user, sub), encoder=NinjaJSONEncoder)
    key = request.headers.get("Idempotency-Key")
    job = services.submit_job(request.user, sub, idempotency_key=key)
    status = 200 if getattr(job, "replayed", False) else 201  # 200: the job this key made before
    if wait:
        return LongPoll(request.user, job.id, wait, status)
    return JsonResponse(job_summary(job), status=status, encoder=NinjaJSONEncoder)


class CursorPages(PaginationBase):
    """Keyset pages (``qportal.jobs.history``): ``next``/``previous`` cursors and a capped count."""

    class Input(Schema):
        cursor: str | None = Field(
            None, description="`next` or `previous` of the page before, with the same filters and sort"
        )
        page_size: int = Field(50, ge=1, le=200)

    class Output(Schema):
        items: list[Any]
        count: int = Field(..., description=f"the jobs that match, counted up to {history.COUNT_CAP:,}")
        count_capped: bool = Field(..., description=f"true: more than {history.COUNT_CAP:,} match (`count` is the cap)")
        next: str | None = Field(..., description="the cursor of the next page; null on the last")
        previous: str | None = Field(..., description="the cursor of the page before; null on the first")

    def paginate_queryset(self, queryset, pagination: Input, request, **params) -> dict:
        if "page" in request.GET:
            raise InvalidRequest("page numbers are gone: pass the `next` (or `previous`) cursor of the last answer")
        sort = params["filters"].sort
        found = history.page(queryset, sort_keys(sort), canonical_sort(sort), pagination.cursor, pagination.page_size)
        count, capped = history.count(queryset, found, pagination.cursor)
        return {
            "items": found.items,
            "count": count,
            "count_capped": capped,
            "next": found.next,
            "previous": found.previous,
        }


@router.get(
    "/jobs",
    response=list[JobOut],
    summary="List your teams' jobs",
    description="A page at a time, newest first unless `sort` says otherwise: pass `next` from one answer as "
    "`cursor` for the page after it (`previous` for the one before), with the same filters and `sort`. "
    f"`count` stops at {history.COUNT_CAP:,} (`count_capped`: more than that).",
)
@paginate(CursorPages)
def list_jobs(request, filters: Query[JobFilters]):
    return filter_jobs(services.history_for(request.user), filters)


@router.get("/jobs/{job_id}", response=JobDetailOut, summary="A job with its events and per-circuit results")
def get_job(request, job_id: UUID, wait: float = Query(0, description=WAIT_HELP)):
    _check_wait(wait)
    detail = job_detail(request.user, job_id)
    if wait and detail["status"] not in TERMINAL:
        return LongPoll(request.user, job_id, wait, 200)
    return JsonResponse(detail, encoder=NinjaJSONEncoder)


@router.get("/jobs/{job_id}/events", response=list[EventOut], summary="Events after a sequence number")
def job_events(request, job_id: UUID, after: int = 0):
    return list(services.get_job(request.user, job_id).events.filter(seq__gt=after))


MAX_PAGE_OUTCOMES = 500_000  # about 12 MB of JSON: twenty 16-qubit circuits of 25,000 outcomes


class ResultPage(BoundedLimitOffset):
    """``BoundedLimitOffset`` whose page ends early once its circuits hold ``MAX_PAGE_OUTCOMES``
    outcomes (a page has at least one circuit): two hundred wide distributions would be a
    gigabyte of objects in the web process.  The next page starts at ``offset + len(items)``."""

    def paginate_queryset(self, queryset, pagination, request, **params):
        offset, limit = pagination.offset, pagination.limit
        rows = queryset.filter(index__gte=offset, index__lt=offset + limit).values_list("outcomes", "shots")
        with_shots = bool(params.get("memory"))  # a circuit's memory is one string per shot
        taken = held = 0
        for outcomes, shots in rows:
            weight = (outcomes or 0) + ((shots or 0) if with_shots else 0)
            if taken and held + weight > MAX_PAGE_OUTCOMES:
                break
            taken, held = taken + 1, held + weight
        return {"items": queryset[offset : offset + max(taken, 1)], "count": self._items_count(queryset)}


@router.get(
    "/jobs/{job_id}/results",
    response=list[CircuitResultOut],
    summary="A page of a job's per-circuit results",
    description="The stored results of circuits `offset` to `offset + limit - 1` (limit 1-200, default 50), "
    "in index order, with `count`: the job's number of circuits. A circuit not yet run has `done` false. "
    f"A page ends early once its circuits hold {MAX_PAGE_OUTCOMES:,} distinct outcomes, shots counted too "
    "with `memory=true` (it always has one circuit): read on from `offset + len(items)`. "
    "With `memory=true`, each circuit that kept its shots (`has_memory`) gives them in `memory`, one "
    "bitstring per shot in shot order.",
)
@paginate(ResultPage)
def job_results(request, job_id: UUID, memory: bool = Query(False, description=MEMORY_HELP)):
    return services.result_rows(services.get_job(request.user, job_id), memory=memory)


@router.get(
    "/jobs/{job_id}/download",
    response={200: None},
    summary="The whole job's results as one file, streamed",
    description="`format`: `jsonl` (a job line, then one line per circuit as `/results` gives it, with "
    "`memory=true` as `/results?memory=true` gives it), `csv` (one row per outcome or observable; never "
    "the shots) or `npz` (NumPy: `c{i}_outcomes` as integers and `c{i}_counts`, or `c{i}_evs` and "
    "`c{i}_stds`; for a circuit that kept its shots `c{i}_memory`, uint8 of shape (shots, bytes per "
    "shot), and `c{i}_memory_bits`: `qiskit.primitives.BitArray(c{i}_memory, int(c{i}_memory_bits))`; "
    "then `index`, `name`, `num_qubits`). Read a batch of circuits at a time: the server never holds the "
    "job in memory.",
)
def download(
    request,
    job_id: UUID,
    format: str = "jsonl",  # noqa: A002 - the parameter's name in the URL
    memory: bool = Query(False, description="jsonl: " + MEMORY_HELP),
):
    return downloads.response(request, services.get_job(request.user, job_id), format, memory=memory)


@router.post("/jobs/{job_id}/cancel", response=JobOut, summary="Cancel a job (idempotent)")
def cancel(request, job_id: UUID):
    return services.cancel_job(request.user, services.get_job(request.user, job_id))


@router.post("/jobs/{job_id}/archive", response=JobOut, summary="Archive a finished job (idempotent)")
def archive(request, job_id: UUID):
    return services.archive_job(request.user, services.get_job(request.user, job_id))


@router.post("/jobs/{job_id}/unarchive", response=JobOut, summary="Bring an archived job back (idempotent)")
def unarchive(request, job_id: UUID):
    return services.unarchive_job(request.user, services.get_job(request.user, job_id))


@router.delete(
    "/jobs/{job_id}",
    response={204: None},
    summary="Delete a job with its circuits, results and events",
    description="An unfinished job is cancelled first: a queued one is deleted at once; a running one "
    f"is deleted once its worker has stopped it (the answer waits up to {DELETE_WAIT_SECONDS} s for that; "
    "a 409 if it has not stopped by then: delete it again later).",
)
def delete(request, job_id: UUID):
    job = services.get_job(request.user, job_id)
    if services.delete_job(request.user, job):
        return 204, None
    return DeleteWhenStopped(job.id, request.user.get_username(), services.delete_stopped_job)


class FailIn(Schema):
    reason: str = ""


@router.post("/jobs/{job_id}/fail", response=JobOut, summary="Fail a stuck job now (team owners)")
def force_fail(request, job_id: UUID, payload: FailIn | None = None):
    reason = payload.reason if payload is not None else ""
    return services.force_fail_job(request.user, services.get_job(request.user, job_id), reason)


@router.post("/jobs/{job_id}/rerun", response={201: JobOut}, summary="Run a job again as a new, linked job")
def rerun(request, job_id: UUID):
    return 201, services.rerun_job(request.user, services.get_job(request.user, job_id))
