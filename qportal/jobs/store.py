"""The worker's database operations. Every write is conditional on (id, attempt) and names its fields.

These are plain sync functions; the worker calls them through ``sync_to_async``.  The ones on every
job's path (claim, load, finish) use the named statements of ``qportal.jobs.queries`` (benchmark 2);
the rest use the ORM.
"""

from __future__ import annotations

import base64
import hashlib
import io
import pickle
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from qiskit import qpy

from executors.base import CircuitResult, ExecutionRequest, ExecutorSpec
from executors.circuits import parse_circuit
from qportal.accounts.models import CredentialStatus, IBMCredential
from qportal.jobs import budgets, queries, sessions, stored_results, usage, usage_events
from qportal.jobs.events import append_event
from qportal.jobs.models import ACTIVE, TERMINAL, Job, JobCircuit, JobStatus
from qportal.jobs.parsed import ParsedCircuits
from qportal.jobs.usage_models import UsageRecord
from qportal.profiles.models import ProfileKind
from qportal.profiles.services import member_resolver


@dataclass
class Claim:
    job_id: Any
    attempt: int
    recovered: bool  # the previous attempt's worker lost its lease


@dataclass
class WorkItem:
    job_id: Any
    attempt: int
    spec: ExecutorSpec
    request: ExecutionRequest
    profile_name: str
    profile_version: tuple  # (profile id, digest of the spec): executors are reused while it holds
    credential_id: int | None
    remote_ids: list[str]
    submit_key: str
    status: str
    cancel_requested: bool
    members: tuple[str, ...] = ()  # cluster profiles: the member profiles' names, in the spec's order


# Jobs of these profile kinds run inside the worker: there is no remote submission to make safe,
# so the claim itself marks them running (one transaction and event fewer per job).
RUNS_IN_WORKER = frozenset({ProfileKind.LOCAL})


# Candidates looked at per free slot: another worker may hold some of them locked.
CANDIDATES_PER_SLOT = 4


def claim_candidates(now, limit: int) -> list[tuple]:
    """Up to ``limit`` claimable jobs in their turn (``queries.claim_turns``), locked for this claim."""
    turns = queries.claim_turns(now, limit * CANDIDATES_PER_SLOT)
    order = {job_id: n for n, job_id in enumerate(turns)}
    locked = sorted(queries.lock_claimable(now, turns), key=lambda row: order[row[0]])
    return locked[:limit]


def claim_jobs(worker_id: str, limit: int, lease_seconds: int) -> list[Claim]:
    """Claim up to ``limit`` queued jobs or jobs whose lease expired.

    On PostgreSQL candidates are locked with SKIP LOCKED so workers never wait on each other;
    everywhere the claim itself is a conditional UPDATE whose row count decides who won.  A fresh
    job goes to ``submitting``, or straight to ``running`` when it runs in the worker (local).
    """
    if limit <= 0:
        return []
    now = timezone.now()
    claims: list[Claim] = []
    with transaction.atomic():
        for job_id, status, attempt, kind, recoveries in claim_candidates(now, limit):
            job_id = Job._meta.pk.to_python(job_id)
            recovered = status != JobStatus.QUEUED
            if recovered and recoveries + 1 >= settings.MAX_RECOVERIES:
                quarantine(job_id, status, attempt, recoveries + 1, now)
                continue
            fields: dict[str, Any] = {
                "attempt": attempt + 1,
                "worker_id": worker_id,
                "lease_until": now + timedelta(seconds=lease_seconds),
                "not_before": None,
            }
            message = f"attempt {attempt + 1} on {worker_id}"
            if recovered:
                fields["recoveries"] = recoveries + 1
                message = f"previous worker lost its lease; {message}"
            elif kind in RUNS_IN_WORKER:
                fields.update(status=JobStatus.RUNNING, sub_status="executing", submitted_at=now, started_at=now)
                message = f"{message}, running in the worker"
            else:
                fields.update(status=JobStatus.SUBMITTING, sub_status="preparing", submitted_at=now)
            event = append_event(
                job_id,
                "recovered" if recovered else "claimed",
                message=message,
                data={"attempt": attempt + 1, "worker": worker_id},
                where=queries.unchanged_since(attempt, status) & queries.claimable(now),
                fields=fields,
            )
            if event is not None:
                claims.append(Claim(job_id, attempt + 1, recovered))
    return claims


def quarantine(job_id, status: str, attempt: int, deaths: int, now) -> bool:
    """Fail a job whose workers keep dying (each took it and lost its lease) instead of handing it to
    the next one: a job that kills its worker would otherwise take every worker down in turn."""
    times = "once" if deaths == 1 else f"{deaths} times"
    message = (
        f"quarantined: the workers running it died {times} (QPORTAL_MAX_RECOVERIES is "
        f"{settings.MAX_RECOVERIES}); it is not run again. It may need more memory than a worker has"
    )
    quarantined = (
        append_event(
            job_id,
            "failed",
            message=message,
            data={"attempt": attempt, "recoveries": deaths},
            where=queries.unchanged_since(attempt, status) & queries.claimable(now),
            fields={
                "status": JobStatus.FAILED,
                "sub_status": "",
                "error": message,
                "recoveries": deaths,
                "finished_at": now,
                "lease_until": None,
            },
        )
        is not None
    )
    if quarantined:
        budgets.release(job_id)  # in the claim's transaction
    return quarantined


def _parse_rows(rows: list[JobCircuit]) -> list:
    circuits = []
    for row in rows:
        if row.source_format == "qpy":
            circuits.append(qpy.load(io.BytesIO(base64.b64decode(row.source)))[0])
        else:
            circuits.append(parse_circuit({"qasm": row.source}, row.index))
    return circuits


Loaded = WorkItem | None | Exception


def claim_and_load(
    worker_id: str, limit: int, lease_seconds: int, parsed: ParsedCircuits | None = None
) -> list[tuple[Claim, Loaded]]:
    """``claim_jobs``, then each claimed job's ``load_work``, in one call (one trip to the worker's
    database thread).  A job that cannot be loaded comes back with the exception instead of its item."""
    loaded: list[tuple[Claim, Loaded]] = []
    for claim in claim_jobs(worker_id, limit, lease_seconds):
        try:
            loaded.append((claim, load_work(claim, parsed)))
        except (OperationalError, InterfaceError) as exc:  # a broken connection: the next call opens one
            connection.close()
            loaded.append((claim, exc))
        except Exception as exc:
            loaded.append((claim, exc))
    return loaded


def load_work(claim: Claim, parsed: ParsedCircuits | None = None) -> WorkItem | None:
    """The claimed job with its profile (and credential) and circuits: two statements of ``queries``;
    the circuits from ``parsed`` when they were parsed at submission in this process."""
    job = queries.claimed_job(claim.job_id, claim.attempt)
    if job is None:
        return None
    rows = queries.circuits_of(job.id)
    circuits = (parsed.take(job.id, len(rows)) if parsed is not None else None) or _parse_rows(rows)
    estimator = job.primitive == "estimator"
    params = [row.parameter_values for row in rows]
    request = ExecutionRequest(
        circuits=circuits,
        primitive=job.primitive,
        shots=job.shots,
        observables=[row.observables for row in rows] if estimator else None,
        parameter_values=params if any(p is not None for p in params) else None,
        tags=list(job.tags),
        submit_key=job.submit_key or None,
        memory=job.memory,
        options=dict(job.options or {}),
        sources=[None if row.source_format == "qpy" else row.source for row in rows],
        pub_shots=_given([row.pub_shots for row in rows]),
        precisions=_given([row.precision for row in rows]),
    )
    sessions.attach(request, job.session_id)
    spec = job.profile.to_spec(with_secrets=True, resolve_member=member_resolver(job.profile))
    return WorkItem(
        job_id=job.id,
        attempt=job.attempt,
        spec=spec,
        request=request,
        profile_name=job.profile.name,
        profile_version=(job.profile_id, hashlib.sha256(pickle.dumps(spec)).hexdigest()),
        credential_id=job.profile.credential_id,
        remote_ids=list(job.remote_ids),
        submit_key=job.submit_key,
        status=job.status,
        cancel_requested=job.cancel_requested,
        members=tuple(job.profile.members or ()) if job.profile.kind == ProfileKind.CLUSTER else (),
    )


def _given(values: list) -> list | None:
    """``values`` unless none is given (a PUB's own shots or precision)."""
    return values if any(value is not None for value in values) else None


def _mine(item_or_claim) -> queries.Where:
    """The job is still active and still held by this attempt (no other worker took it over)."""
    return queries.held_by(item_or_claim.attempt)


def _owned(job_id, attempt: int):
    return Job.objects.filter(id=job_id, attempt=attempt, status__in=list(ACTIVE))


def renew_lease(job_id, attempt: int, lease_seconds: int) -> tuple[bool, bool]:
    """Heartbeat. Returns (still ours, stop it): stop when a cancel was requested, or the job was
    failed by an owner (``services.force_fail_job``) or deleted while this attempt held it."""
    query = _owned(job_id, attempt)
    if not query.update(lease_until=timezone.now() + timedelta(seconds=lease_seconds)):
        row = Job.objects.filter(id=job_id).values_list("attempt", "cancel_requested").first()
        return False, row is None or (row[0] == attempt and row[1])
    cancel = Job.objects.filter(id=job_id).values_list("cancel_requested", flat=True).first()
    return True, cancel is None or bool(cancel)


def save_submit_key(item: WorkItem, key: str) -> bool:
    return _owned(item.job_id, item.attempt).update(submit_key=key) == 1


def mark_running(item: WorkItem, remote_ids: list[str], message: str) -> bool:
    return (
        append_event(
            item.job_id,
            "running",
            message=message,
            data={"remote_ids": remote_ids},
            where=_mine(item),
            fields={
                "status": JobStatus.RUNNING,
                "sub_status": "executing",
                "remote_ids": remote_ids,
                "started_at": timezone.now(),
            },
        )
        is not None
    )


def set_sub_status(item: WorkItem, text: str) -> None:
    """Record a new sub-status; repeating the current one writes nothing."""
    text = text[:100]
    append_event(
        item.job_id,
        "progress",
        message=text,
        where=_mine(item) & queries.sub_status_is_not(text),
        fields={"sub_status": text},
    )


def record_remote_estimate(item: WorkItem, estimate: dict[str, float]) -> bool:
    """The remote service's own estimate of what the job will use (IBM's ``usage_estimation``),
    told once it is submitted in an ``estimate`` event; the job's ``usage`` reads it from there."""
    seconds = estimate.get("ibm_estimated_qpu_seconds")
    return (
        append_event(
            item.job_id,
            "estimate",
            message=f"IBM estimates {seconds:g} QPU seconds",
            data={"usage": usage_events.public(estimate)},
            where=_mine(item),
        )
        is not None
    )


def save_circuit_results(item: WorkItem, results: list[CircuitResult], total: int) -> int:
    """Store circuits' results as they finish (one circuit, or a chunk of a job run in chunks) and
    announce them in one event; a result stored already (a repeated callback) counts once.
    Returns how many were new (0 when the job is no longer this attempt's)."""
    with transaction.atomic():
        saved = queries.save_results(item.job_id, results, only_new=True)
        if not saved:
            return 0
        if len(results) == 1:
            (result,) = results
            message = f"circuit {result.index + 1} of {total} done"
            data = {"index": result.index, **stored_results.summary(result)}  # the counts: /results
        else:
            indices = sorted(result.index for result in results)
            message = f"{len(indices)} more circuits done ({indices[0] + 1}-{indices[-1] + 1} of {total})"
            data = {"indices": indices}
        # The event's conditional update proves the job is still ours; else the results roll back.
        event = append_event(
            item.job_id,
            "circuit",
            message=message,
            data=data,
            where=_mine(item),
            fields={"circuits_done": queries.circuits_done_plus(saved)},
        )
        if event is None:
            transaction.set_rollback(True)
            return 0
        return saved


def finish_done(
    item: WorkItem,
    circuits: list[CircuitResult],
    execution_time: float,
    remote_ids: list[str],
    metadata: dict,
    saved: frozenset[int] = frozenset(),
    used: dict | None = None,
) -> bool:
    """Finish the job with all of its results; those of the circuits in ``saved`` were stored as they
    finished (``save_circuit_results``) and are not written again.  ``used``: what it used
    (``ExecutionResult.usage``), recorded and settled against budgets in the same transaction."""
    ran_on = _member_that_ran(item, metadata)
    ignored = [str(path)[:200] for path in metadata.get("ignored_options") or ()][:100]
    with transaction.atomic():
        # The event's conditional update proves the job is still ours; the results join the same
        # transaction, so they and the "done" state commit together or not at all.
        event = append_event(
            item.job_id,
            "done",
            message=f"{len(circuits)} circuit(s) done in {execution_time:.3f} s"
            + (f" on {ran_on}" if ran_on else "")
            + (f"; options this backend ignored: {', '.join(ignored)}" if ignored else ""),
            data={
                "execution_time": execution_time,
                "remote_ids": remote_ids,
                **_public_metadata(metadata),
                **({"ran_on": ran_on} if ran_on else {}),
                **({"ignored_options": ignored} if ignored else {}),
                **({"usage": usage_events.public(used)} if used else {}),
            },
            where=_mine(item),
            fields={
                "status": JobStatus.DONE,
                "sub_status": "",
                "circuits_done": len(circuits),
                "execution_time": execution_time,
                **({"remote_ids": remote_ids} if remote_ids else {}),
                **({"ran_on": ran_on} if ran_on else {}),
                **({"ignored_options": ignored} if ignored else {}),
                "finished_at": timezone.now(),
                "lease_until": None,
            },
        )
        if event is None:
            return False
        queries.save_results(item.job_id, [c for c in circuits if c.index not in saved])
        _record_usage(item, JobStatus.DONE, {**(used or {}), "backend": metadata.get("backend") or ""})
        return True


def _record_usage(item: WorkItem, status: str, used: dict) -> None:
    usage.record(
        item.job_id,
        profile=item.profile_name,
        kind=item.spec.kind,
        backend=item.spec.backend,
        status=status,
        used=used,
    )


def _member_that_ran(item: WorkItem, metadata: dict) -> str:
    """A cluster job's member profile that answered (its executor's name, such as
    ``aer_simulator``, is the same for every local member): "" for other kinds."""
    index = metadata.get("executor_index")
    if not item.members or not isinstance(index, int) or not 0 <= index < len(item.members):
        return ""
    return str(item.members[index])[:100]


def _public_metadata(metadata: dict) -> dict:
    """What the done event tells about the run: which executor ran it and any failover."""
    public = {key: metadata[key] for key in ("executor", "failover") if metadata.get(key)}
    return public


def finish_failed(item_or_claim, message: str, *, kind: str = "failed", used: dict | None = None) -> bool:
    """End the job failed or cancelled; in the same transaction what it used (``used``: what IBM
    charged for the time it ran, when known) is recorded and settled, the rest of its holds released."""
    status = JobStatus.CANCELLED if kind == "cancelled" else JobStatus.FAILED
    with transaction.atomic():
        ended = _end_failed(item_or_claim, message, kind, status, usage_events.public(used or {}))
        if ended and isinstance(item_or_claim, WorkItem):
            _record_usage(item_or_claim, status, used or {})
        elif ended:
            budgets.release(item_or_claim.job_id)
        elif isinstance(item_or_claim, WorkItem) and "qpu_seconds" in (used or {}):
            record_late_charge(item_or_claim, used)
        return ended


def record_late_charge(item: WorkItem, used: dict) -> bool:
    """What IBM billed for a job an owner failed while it ran (``services.force_fail_job`` ends it
    and releases its holds; the remote job was stopped and its bill read afterwards): recorded
    once, against the budgets it had held, unless the job was deleted or its usage is on record."""
    with transaction.atomic():
        ended = Job.objects.filter(id=item.job_id, attempt=item.attempt, status__in=list(TERMINAL))
        status = ended.select_for_update().values_list("status", flat=True).first()
        if status is None or UsageRecord.objects.filter(job_id=item.job_id).exists():
            return False
        _record_usage(item, status, used)
        return True


def _end_failed(item_or_claim, message: str, kind: str, status: str, used: dict) -> bool:
    return (
        append_event(
            item_or_claim.job_id,
            kind,
            message=message,
            data={"usage": used} if used else {},
            where=_mine(item_or_claim),
            fields={
                "status": status,
                "sub_status": "",
                "error": message if status == JobStatus.FAILED else "",
                "finished_at": timezone.now(),
                "lease_until": None,
            },
        )
        is not None
    )


def requeue(item: WorkItem, message: str, delay_seconds: float) -> bool:
    """A transient fault: give the job back to the queue after a backoff (remote ids are kept)."""
    return (
        append_event(
            item.job_id,
            "retrying",
            message=message,
            data={"delay": delay_seconds},
            where=_mine(item),
            fields={
                "status": JobStatus.QUEUED,
                "sub_status": f"retrying in {delay_seconds:.0f} s",
                "not_before": timezone.now() + timedelta(seconds=delay_seconds),
                "lease_until": None,
            },
        )
        is not None
    )


def mark_credential_invalid(credential_id: int, reason: str) -> None:
    IBMCredential.objects.filter(id=credential_id).update(
        status=CredentialStatus.INVALID, status_reason=reason[:500], checked_at=timezone.now()
    )


def pending_work_exists() -> bool:
    return Job.objects.filter(status__in=[JobStatus.QUEUED, *ACTIVE]).exists()
