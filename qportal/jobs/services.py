"""Use cases for jobs: submit, cancel, run again. Views and the API stay thin around these."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from executors.base import MAX_CIRCUITS, MAX_SHOTS, ExecutionRequest, InvalidRequest
from executors.circuits import MAX_SOURCE_CHARS, parse_circuit, qasm_version, validate_request
from executors.job_options import check_job_options, effective_options, precision_of
from executors.memory import memory_hint
from executors.preflight import SourceLimits, check_built, check_job_sources
from executors.pubs import pub_form
from executors.sweeps import ARRAY_KEY, is_array_entry, merge_circuit_fields
from qportal.accounts import audit
from qportal.accounts.access import (
    Conflict,
    NotFound,
    ReadOnly,
    is_owner,
    membership,
    personal_team,
    team_filter,
    team_ids,
    writable_membership,
)
from qportal.jobs import budgets, bus, queries, queue_limits, sessions
from qportal.jobs.detail import event_frame
from qportal.jobs.events import append_event, publish
from qportal.jobs.models import ACTIVE, TERMINAL, Job, JobCircuit, JobEvent, JobStatus
from qportal.profiles.models import ProfileKind
from qportal.profiles.services import member_resolver, profile_max_qubits, resolve_profile_and_personal_team

MAX_TAGS = 20
MAX_TAG_LENGTH = 50


@dataclass
class Submission:
    profile: str
    circuits: list[dict[str, Any]]
    shots: int | None = None
    primitive: str = "sampler"
    observables: list[Any] | None = None
    parameter_values: list[Any] | None = None
    name: str = ""
    tags: list[str] = field(default_factory=list)
    team: int | None = None
    memory: bool = False  # keep every shot's outcome (sampler only)
    options: dict[str, Any] = field(default_factory=dict)  # primitive options, over the profile's
    session: Any = None  # a portal session's id: the job runs in it, on its profile


def _clean_tags(tags: list[str]) -> list[str]:
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"at most {MAX_TAGS} tags per job, got {len(tags)}")
    cleaned = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH or "|" in tag:
            raise InvalidRequest(f"tag {tag!r} must be 1-{MAX_TAG_LENGTH} characters without '|'")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def _own_name(circuit) -> str:
    """The circuit's name unless Qiskit made it up (``circuit-41``: a process-wide counter)."""
    return "" if re.fullmatch(r"circuit-\d+", circuit.name or "") else circuit.name


def _source_of(source: dict[str, Any], index: int) -> tuple[str, str]:
    if not isinstance(source, dict):
        raise InvalidRequest(f'circuit {index}: expected an object with "qasm" or "qpy"', index=index)
    for key in ("qasm", "qpy"):
        text = source.get(key)
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise InvalidRequest(f"circuit {index}: '{key}' must be a non-empty string", index=index)
    if source.get("qasm") is not None:
        text = source["qasm"]
        if len(text) > MAX_SOURCE_CHARS:
            raise InvalidRequest(
                f"circuit {index}: source is {len(text)} characters; the limit is {MAX_SOURCE_CHARS}", index=index
            )
        return ("qasm3" if qasm_version(text) == 3 else "qasm2"), text
    if source.get("qpy") is not None:
        return "qpy", source["qpy"]  # its base64 and header are checked by preflight, before parsing
    raise InvalidRequest(f'circuit {index}: give either "qasm" or "qpy"', index=index)


def source_limits(profile) -> SourceLimits:
    """What a job on ``profile`` may declare, checked before any circuit is built (settings)."""
    return SourceLimits(
        max_qubits=profile_max_qubits(profile),
        qubit_hint=lambda n: memory_hint(profile.to_spec(), n, settings.SIM_MEMORY_BYTES),  # only on refusal
        max_operations=settings.MAX_CIRCUIT_OPERATIONS,
        max_job_operations=settings.MAX_JOB_OPERATIONS,
        max_job_qasm3_chars=settings.MAX_JOB_QASM3_CHARS,
        backend_name=profile.backend or profile.name,
    )


def _parse_all(sources: list[dict[str, Any]]) -> list:
    """Each source parsed; a source repeated in the job (a parameter sweep, repeated runs) is parsed
    once and copied, far cheaper than parsing it again (bench/README.md, "Figures behind the code")."""
    parsed: dict[tuple, Any] = {}
    circuits = []
    for index, source in enumerate(sources):
        key = tuple(source.get(part) for part in ("qasm", "qpy", "name")) if isinstance(source, dict) else None
        if key is not None and not all(part is None or isinstance(part, str) for part in key):
            key = None  # parse_circuit explains what is wrong with it
        first = parsed.get(key) if key is not None else None
        if first is None:
            circuit = parse_circuit(source, index)
            if key is not None:
                parsed[key] = circuit
        else:
            circuit = first.copy()
        circuits.append(circuit)
    return circuits


IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,100}$")


def submit_job(user, sub: Submission, *, rerun_of: Job | None = None, idempotency_key: str | None = None) -> Job:
    """Validate everything, then write the job, its circuits and its first event in one transaction.

    With ``idempotency_key``, a submission the same user made with that key before is returned as
    it is (``job.replayed`` is True) and nothing new is written, even when both race.
    """
    if idempotency_key is not None:
        if not IDEMPOTENCY_KEY_RE.match(idempotency_key):
            raise InvalidRequest("Idempotency-Key must be 1-100 printable ASCII characters without spaces")
        first = _replayed(user, idempotency_key)
        if first is not None:
            return first
    try:
        return _submit(user, sub, rerun_of, idempotency_key)
    except IntegrityError:
        first = _replayed(user, idempotency_key) if idempotency_key is not None else None
        if first is None:
            raise
        return first  # the same key won a race a moment ago


def _replayed(user, key: str) -> Job | None:
    job = jobs_for(user).filter(created_by=user, idempotency_key=key).first()
    if job is not None:
        job.replayed = True
    return job


def dry_run_job(user, sub: Submission) -> dict[str, Any]:
    """Validate ``sub`` as ``submit_job`` would, budgets included, and store nothing: the
    estimate (``budgets.dry_run_answer``).  A job over a budget raises ``BudgetExceeded``."""
    return _submit(user, sub, None, None, dry_run=True)


def _submit(user, sub: Submission, rerun_of: Job | None, idempotency_key: str | None, *, dry_run: bool = False):
    if not sub.circuits:
        raise InvalidRequest("a job needs at least one circuit")
    if len(sub.circuits) > MAX_CIRCUITS:
        raise InvalidRequest(f"a job holds at most {MAX_CIRCUITS} circuits, got {len(sub.circuits)}")
    if sub.primitive not in ("sampler", "estimator"):
        raise InvalidRequest(f'primitive must be "sampler" or "estimator", not {sub.primitive!r}')
    if sub.shots is not None and not 1 <= sub.shots <= MAX_SHOTS:
        raise InvalidRequest(f"shots must be between 1 and {MAX_SHOTS}, got {sub.shots}")
    if sub.observables is not None and len(sub.observables) != len(sub.circuits):
        raise InvalidRequest(
            f"give one observables entry per circuit: {len(sub.circuits)} circuits, {len(sub.observables)} entries"
        )
    if sub.parameter_values is not None and len(sub.parameter_values) != len(sub.circuits):
        given = len(sub.parameter_values)
        raise InvalidRequest(
            f"give one parameter_values entry per circuit: {len(sub.circuits)} circuits, {given} entries"
        )
    if not isinstance(sub.memory, bool):
        raise InvalidRequest(f"memory must be true or false, not {sub.memory!r}")
    if sub.memory and sub.primitive != "sampler":
        raise InvalidRequest(
            "memory keeps each shot's outcome, which only a sampler job has; "
            "an estimator job returns expectation values: leave memory off"
        )
    tags = _clean_tags(sub.tags)

    session = sessions.session_for_job(user, sub.session, sub.profile, sub.team) if sub.session else None
    if session is not None:
        profile, team = session.profile, session.team
    else:
        profile, team = _profile_and_team(user, sub)

    if sub.memory:
        _check_memory_kept(profile)
    options, shots = check_job_options(sub.primitive, sub.options, profile.options, sub.shots, profile.shots)
    if not dry_run:
        queue_limits.check(user.pk, team)
    sources = [_source_of(src, i) for i, src in enumerate(sub.circuits)]
    limits = source_limits(profile)
    check_job_sources(sources, limits)  # sizes first: nothing is built for a source over a limit
    circuits = _parse_all(sub.circuits)
    for index, ((fmt, _), circuit) in enumerate(zip(sources, circuits, strict=True)):
        if fmt == "qpy":  # a QPY header counts only the top level; definitions are known once loaded
            check_built(circuit, index, limits)
    values, observables, pub_shots, precisions = merge_circuit_fields(
        sub.circuits, sub.parameter_values, sub.observables, sub.primitive
    )
    request = ExecutionRequest(
        circuits=circuits,
        primitive=sub.primitive,
        shots=shots,
        observables=observables,
        parameter_values=values,
        tags=tags,
        memory=sub.memory,
        options=options,
        pub_shots=pub_shots,
        precisions=precisions,
    )
    validate_request(request, limits.max_qubits, limits.backend_name)
    if pub_form(request):
        _check_pubs_run(profile)
    estimate = budgets.admit(user, team, profile, request, dry_run=dry_run)  # BudgetExceeded: 402
    if dry_run:
        return budgets.dry_run_answer(user, team, profile, request, estimate)

    # The job is written with its first event's sequence number; the instance returned keeps the
    # team, profile and user objects, so answering the request needs no further query.
    job = Job(
        team=team,
        created_by=user,
        profile=profile,
        name=sub.name[:200],
        tags=tags,
        tag_index="".join(f"|{t}" for t in tags) + "|" if tags else "",
        primitive=sub.primitive,
        shots=shots,
        memory=sub.memory,
        options=options,
        num_circuits=len(circuits),
        rerun_of=rerun_of,
        session=session,
        last_seq=1,
        idempotency_key=idempotency_key,
    )
    rows = [
        JobCircuit(
            job=job,
            index=i,
            name=(sub.circuits[i].get("name") or _own_name(circuit) or "")[:200],
            source_format=fmt,
            source=text,
            num_qubits=circuit.num_qubits,
            observables=observables[i] if observables else None,
            parameter_values=values[i] if values else None,
            pub_shots=pub_shots[i] if pub_shots else None,
            precision=precisions[i] if precisions else None,
        )
        for i, ((fmt, text), circuit) in enumerate(zip(sources, circuits, strict=True))
    ]
    event = JobEvent(
        job=job,
        seq=1,
        kind="queued",
        status=job.status,
        message=f"queued on {profile.name} with {len(circuits)} circuit(s)",
        data={"estimated_qpu_seconds": estimate.seconds} if estimate is not None else {},
    )
    # a closed session takes none, even mid-submission; the estimate is reserved in the insert's transaction
    with sessions.admitting(session), budgets.holding(job, estimate):
        queries.insert_job(job, rows, event)  # all or nothing
    parsed = apps.get_app_config("jobs").parsed_circuits
    if parsed is not None:
        parsed.remember(job.id, circuits)  # spares this process's worker parsing them again
    frame = event_frame(event)
    # Sent after commit (at once when no outer transaction is open).
    transaction.on_commit(lambda: publish(frame, team.id, wake=True))
    return job


def _profile_and_team(user, sub: Submission):
    """The job's profile and the team it goes to: the one named, else the profile's, else the
    user's personal team."""
    if not sub.profile:
        raise InvalidRequest('name the job\'s "profile" (or a "session", whose profile it then runs on)')
    profile, personal = resolve_profile_and_personal_team(user, sub.profile, sub.team)
    if sub.team is not None:
        return profile, writable_membership(user, sub.team).team
    if profile.team_id is not None:
        return profile, writable_membership(user, profile.team_id).team
    return profile, personal or personal_team(user)  # created on first use


def _pennylane_devices(profile) -> list[str]:
    """The profile, or its cluster's members, that run on a PennyLane device."""
    kinds = {profile.name: profile.kind}
    if profile.kind == ProfileKind.CLUSTER:
        resolve = member_resolver(profile)
        kinds = {name: resolve(name).kind for name in profile.members or ()}
    return [name for name, kind in kinds.items() if kind == ProfileKind.PENNYLANE]


def _check_pubs_run(profile) -> None:
    """A PennyLane device runs one binding per circuit: refuse a sweep (or a PUB's own shots or
    precision) now rather than fail the job later."""
    devices = _pennylane_devices(profile)
    if devices:
        raise InvalidRequest(
            f"profile {devices[0]!r} runs on a PennyLane device, which takes one flat binding per "
            "circuit: send the sweep's bindings as circuits of their own, or choose a local, fake or IBM profile"
        )


def _check_memory_kept(profile) -> None:
    """A profile that may run the job on a PennyLane device cannot keep each shot: refuse now
    rather than fail the job later."""
    devices = _pennylane_devices(profile)
    if devices:
        raise InvalidRequest(
            f"profile {devices[0]!r} runs on a PennyLane device, which returns counts only, not each "
            "shot's outcome: submit without memory, or choose a local, fake or IBM profile"
        )


def result_rows(job: Job, *, memory: bool = False):
    """The job's circuits as result pages and downloads read them, in index order: never the
    source; the stored shots only with ``memory`` (``has_memory`` is read either way)."""
    rows = job.circuits.annotate(
        memory_kept=ExpressionWrapper(Q(memory_blob__isnull=False), output_field=BooleanField())
    )
    if memory:
        rows = rows.defer(None)  # the manager leaves the shots out
    return rows.defer("source").order_by("index")


def jobs_for(user):
    return Job.objects.filter(team_filter(user)).select_related("profile", "team", "created_by")


def history_for(user):
    """``jobs_for`` with the user's team ids looked up first and written into the list's query: the
    planner then knows how many jobs they hold (a subquery's teams it must guess, 2.5 % of the table),
    and reads a big team's newest jobs in order instead of sorting every match."""
    return Job.objects.filter(team_id__in=team_ids(user)).select_related("profile", "team", "created_by")


def get_job(user, job_id) -> Job:
    try:
        return jobs_for(user).get(id=job_id)
    except (Job.DoesNotExist, ValidationError, ValueError):
        raise NotFound("job not found") from None


def cancel_job(user, job: Job) -> Job:
    """Idempotent: cancelling a cancelled job is fine; a finished job cannot be cancelled."""
    writable_membership(user, job.team_id)
    if job.status == JobStatus.CANCELLED:
        return job
    if job.status in TERMINAL:
        raise Conflict(f"job already {job.status}; it cannot be cancelled")
    with transaction.atomic():
        cancelled = append_event(
            job.id,
            "cancelled",
            message="cancelled before it started",
            where=queries.is_queued(),
            fields={
                "status": JobStatus.CANCELLED,
                "cancel_requested": True,
                "finished_at": timezone.now(),
                "sub_status": "",
            },
        )
        stopping = None
        if not cancelled:
            stopping = append_event(
                job.id,
                "cancel_requested",
                message="cancel requested; stopping the running job",
                where=queries.running_without_cancel(),
                fields={"cancel_requested": True},
            )
            worker_id = Job.objects.filter(id=job.id).values_list("worker_id", flat=True)[0]
            transaction.on_commit(lambda: bus.current().notify_cancel(job.id, worker_id))
        if cancelled:
            budgets.release(job.id)
        if cancelled or stopping:
            audit.record(user, job.team_id, "job.cancelled", _job_label(job), job=str(job.id))
    job.refresh_from_db()
    return job


def _job_label(job: Job) -> str:
    return f"{job.name} ({str(job.id)[:8]})" if job.name else str(job.id)  # as job.deleted writes it


def force_fail_job(user, job: Job, reason: str = "") -> Job:
    """A team owner fails a stuck job now, whichever worker holds it (or none).

    The failure is written whatever the attempt, as long as the job has not finished; the worker's
    own later writes are conditional on its attempt and an active status, so they write nothing.
    The worker is told through the cancel notice and stops the simulation (or the remote job).
    """
    if not is_owner(user, job.team_id):
        raise ReadOnly(f"only an owner of team {membership(user, job.team_id).team.name!r} may fail a job")
    if job.status in TERMINAL:
        raise Conflict(f"job already {job.status}; it cannot be failed")
    who = user.get_username()
    reason = " ".join(str(reason or "").split())[:500]
    message = f"failed by {who}" + (f": {reason}" if reason else "")
    with transaction.atomic():
        event = append_event(
            job.id,
            "failed",
            message=message,
            data={"by": who},
            where=queries.unfinished(),
            fields={
                "status": JobStatus.FAILED,
                "sub_status": "",
                "error": message,
                "cancel_requested": True,
                "finished_at": timezone.now(),
                "lease_until": None,
            },
        )
        if event is None:
            job.refresh_from_db()
            raise Conflict(f"job already {job.status}; it cannot be failed")
        audit.record(user, job.team_id, "job.force_failed", _job_label(job), job=str(job.id), reason=reason)
        budgets.release(job.id)
        worker_id = Job.objects.filter(id=job.id).values_list("worker_id", flat=True)[0]
        if worker_id:
            transaction.on_commit(lambda: bus.current().notify_cancel(job.id, worker_id))
    job.refresh_from_db()
    return job


def archive_job(user, job: Job) -> Job:
    """Put a finished job away (idempotent): it leaves the lists unless they ask for archived jobs."""
    writable_membership(user, job.team_id)
    if job.archived_at is not None:
        return job
    if job.status not in TERMINAL:
        raise Conflict(f"job is {job.status}; cancel it or let it finish before archiving it")
    append_event(
        job.id,
        "archived",
        message=f"archived by {user.get_username()}",
        data={"by": user.get_username()},
        where=queries.status_in(TERMINAL) & queries.not_archived(),
        fields={"archived_at": timezone.now()},
    )
    job.refresh_from_db()
    return job


def unarchive_job(user, job: Job) -> Job:
    """Bring an archived job back to the lists (idempotent)."""
    writable_membership(user, job.team_id)
    if job.archived_at is None:
        return job
    append_event(
        job.id,
        "unarchived",
        message=f"unarchived by {user.get_username()}",
        data={"by": user.get_username()},
        where=queries.archived(),
        fields={"archived_at": None},
    )
    job.refresh_from_db()
    return job


def delete_job(user, job: Job) -> bool:
    """Delete the job with its circuits (and their results) and events, once it is not running.

    An unfinished job is cancelled first (``cancel_job``): a queued one is cancelled at once and
    deleted here; a running one is told to stop and False is returned (delete it once it has
    stopped: ``delete_stopped_job``).  True when it was deleted.
    """
    writable_membership(user, job.team_id)
    if job.status not in TERMINAL and not job.cancel_requested:
        cancel_job(user, job)
    return delete_stopped_job(job.id, user.get_username())


def delete_stopped_job(job_id, by: str) -> bool:
    """Delete the job unless a worker holds it (submitting or running); True when it was deleted.

    The conditional update takes the row's lock first, so no claim can start the job between the
    check and the delete; a worker's later writes find no row and change nothing.  Live pages get
    a last frame of kind ``deleted`` (no event row is left to hold it).
    """
    with transaction.atomic():
        if not Job.objects.filter(id=job_id).exclude(status__in=list(ACTIVE)).update(cancel_requested=True):
            return False
        team_id, status, seq, name = Job.objects.filter(id=job_id).values_list("team_id", "status", "last_seq", "name")[
            0
        ]
        audit.record_as(
            by, team_id, "job.deleted", f"{name} ({str(job_id)[:8]})" if name else str(job_id), job=str(job_id)
        )
        Job.objects.filter(id=job_id).delete()  # with its circuits and events (on_delete=CASCADE)
        gone = JobEvent(job_id=job_id, seq=seq + 1, kind="deleted", status=status, message=f"deleted by {by}")
        gone.created = timezone.now()
        frame = event_frame(gone)
        transaction.on_commit(lambda: publish(frame, team_id))
    return True


def rerun_job(user, job: Job) -> Job:
    rows = list(job.circuits.all())
    circuits = [_rerun_entry(c) for c in rows]
    observables = [None if is_array_entry(c.observables) else c.observables for c in rows]
    params = [c.parameter_values for c in rows]
    by_precision = precision_of(job.primitive, effective_options(job.profile.options, job.options)) is not None
    sub = Submission(
        profile=job.profile.name,
        circuits=circuits,
        shots=None if by_precision else job.shots,
        primitive=job.primitive,
        observables=observables if job.primitive == "estimator" and any(o is not None for o in observables) else None,
        parameter_values=params if any(p is not None for p in params) else None,
        name=job.name,
        tags=job.tags,
        team=job.team_id,
        memory=job.memory,
        options=job.options,
        # In its session while that takes jobs (an optimiser loop's step again); outside it once closed.
        session=job.session_id if job.session_id and job.session.takes_jobs else None,
    )
    return submit_job(user, sub, rerun_of=job)


def _rerun_entry(circuit: JobCircuit) -> dict[str, Any]:
    """A stored circuit as a submission's circuit entry, with its PUB's own fields."""
    entry: dict[str, Any] = {"qasm": circuit.source} if circuit.source_format != "qpy" else {"qpy": circuit.source}
    if is_array_entry(circuit.observables):
        entry["observables"] = circuit.observables[ARRAY_KEY]
    if circuit.pub_shots is not None:
        entry["shots"] = circuit.pub_shots
    if circuit.precision is not None:
        entry["precision"] = circuit.precision
    return entry
