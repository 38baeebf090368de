"""Portal sessions and batches: jobs that run inside one qiskit-ibm-runtime ``Session`` or ``Batch``.

A :class:`~qportal.jobs.models.RuntimeSession` row is the record of truth.  People create, close
and cancel sessions here (``sessions_api``); a job joins one at submission (:func:`admitting`,
conditional on the session still taking jobs, in the job's own transaction); the worker saves the
IBM session id the moment IBM returns it (:func:`record_remote_id`, first writer wins, so two
workers never open two IBM sessions for one portal session) and ends sessions on its timer
(:func:`expire_due`, :func:`due_to_end`, :func:`mark_ended`).  Every write is a conditional update.

Life of a session: ``open`` (no job yet) -> ``active`` (has taken a job) -> ``closed`` (a person
closed it: no new jobs, its jobs finish), ``expired`` (``max_time`` or ``idle_timeout`` passed:
the same) or ``cancelled`` (its unfinished jobs and the IBM session are cancelled).  ``closing_at``
is when it stopped taking jobs; ``closed_at`` when its jobs had finished and the IBM session was
told (the worker's sweep).
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from executors.base import ExecutionRequest, ExecutorSpec, InvalidRequest, SessionRequest
from qportal.accounts import audit
from qportal.accounts.access import Conflict, NotFound, personal_team, team_filter, writable_membership
from qportal.jobs.models import SESSION_TAKES_JOBS, TERMINAL, Job, RuntimeSession, SessionStatus
from qportal.profiles.models import ProfileKind
from qportal.profiles.services import resolve_profile_and_personal_team

MODES = ("session", "batch")
# IBM's longest session (8 h); a longer max_time would be refused by IBM at the first job.
MAX_TIME_LIMIT = 8 * 3600
DEFAULT_IDLE_TIMEOUT = 600
MAX_IDLE_TIMEOUT = 24 * 3600
SESSION_KINDS = (ProfileKind.LOCAL, ProfileKind.FAKE, ProfileKind.IBM_CLOUD)
ENDED = frozenset({SessionStatus.CLOSED, SessionStatus.EXPIRED, SessionStatus.CANCELLED})


def sessions_for(user):
    """The sessions of the user's teams (the project's one access rule)."""
    return RuntimeSession.objects.filter(team_filter(user)).select_related("profile", "team", "created_by")


def get_session(user, session_id) -> RuntimeSession:
    """The session, if the user may see it; another team's is not found."""
    try:
        return sessions_for(user).get(id=session_id)
    except (RuntimeSession.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound("session not found") from None


def _bounded(name: str, value: Any, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be a whole number of seconds between {low} and {high}, got {value!r}")
    return value


def create_session(
    user,
    *,
    profile: str,
    mode: str = "session",
    max_time: int | None = None,
    name: str = "",
    team: int | None = None,
    idle_timeout: int | None = None,
) -> RuntimeSession:
    """Validate, then write the session (nothing is sent to IBM before its first job)."""
    if mode not in MODES:
        raise InvalidRequest(f'mode must be "session" or "batch", not {mode!r}')
    max_time = _bounded("max_time", max_time, 1, MAX_TIME_LIMIT)
    idle = _bounded("idle_timeout", idle_timeout, 1, MAX_IDLE_TIMEOUT) or DEFAULT_IDLE_TIMEOUT
    if not isinstance(name, str) or len(name) > 200:
        raise InvalidRequest("name must be text of at most 200 characters")
    found, personal = resolve_profile_and_personal_team(user, profile, team)
    if found.kind not in SESSION_KINDS:
        raise InvalidRequest(
            f"profile {found.name!r} is a {found.kind} profile; a session runs on one local, fake or IBM cloud profile"
        )
    if team is not None:
        owner = writable_membership(user, team).team
    elif found.team_id is not None:
        owner = writable_membership(user, found.team_id).team
    else:
        owner = personal or personal_team(user)
    with transaction.atomic():  # the session and its audit entry, or neither
        session = RuntimeSession.objects.create(
            team=owner,
            created_by=user,
            profile=found,
            mode=mode,
            name=name,
            max_time=max_time,
            idle_timeout=idle,
            backend=found.backend or ("aer_simulator" if found.kind == ProfileKind.LOCAL else ""),
            last_activity=timezone.now(),
        )
        audit.record(user, owner.id, "session.created", _label(session), session=str(session.id), mode=mode)
    return session


def _label(session: RuntimeSession) -> str:
    return f"{session.name} ({str(session.id)[:8]})" if session.name else str(session.id)


def _stop_taking_jobs(session: RuntimeSession, status: SessionStatus) -> bool:
    """Conditional: only a session still taking jobs changes; True when this call changed it."""
    changed = RuntimeSession.objects.filter(id=session.id, status__in=list(SESSION_TAKES_JOBS)).update(
        status=status, closing_at=timezone.now()
    )
    return changed == 1


def close_session(user, session: RuntimeSession) -> RuntimeSession:
    """No new jobs; its queued and running jobs finish (idempotent once closed)."""
    writable_membership(user, session.team_id)
    if session.status == SessionStatus.CLOSED:
        return session
    with transaction.atomic():
        if _stop_taking_jobs(session, SessionStatus.CLOSED):
            audit.record(user, session.team_id, "session.closed", _label(session), session=str(session.id))
    session.refresh_from_db()
    if session.status != SessionStatus.CLOSED:
        raise Conflict(f"session already {session.status}; it cannot be closed")
    return session


def cancel_session(user, session: RuntimeSession) -> RuntimeSession:
    """Cancel the session's queued and running jobs; the worker cancels the IBM session
    (``due_to_end``).  A closed or expired session can still be cancelled (its jobs may run)."""
    from qportal.jobs.services import cancel_job  # services imports this module for admissions

    writable_membership(user, session.team_id)
    if session.status == SessionStatus.CANCELLED:
        return session
    changed = RuntimeSession.objects.filter(id=session.id).exclude(status=SessionStatus.CANCELLED)
    with transaction.atomic():
        if not changed.filter(closing_at__isnull=True).update(
            status=SessionStatus.CANCELLED, closing_at=timezone.now()
        ):
            changed.update(status=SessionStatus.CANCELLED)
        audit.record(user, session.team_id, "session.cancelled", _label(session), session=str(session.id))
    for job in Job.objects.filter(session=session).exclude(status__in=list(TERMINAL)).select_related("team"):
        try:
            cancel_job(user, job)
        except Conflict:  # it finished meanwhile
            pass
    session.refresh_from_db()
    return session


# -- jobs joining a session ------------------------------------------------------------------
def session_for_job(user, session_id, profile: str | None, team: int | None) -> RuntimeSession:
    """The session a submission names, checked: the user may write to its team, it takes jobs,
    and the job's profile (default: the session's) and team are the session's."""
    session = get_session(user, session_id)
    writable_membership(user, session.team_id)
    if not session.takes_jobs:
        raise Conflict(f"session {session.id} is {session.status}; it takes no new jobs (open a new session)")
    if profile not in (None, "", session.profile.name):
        raise InvalidRequest(
            f"profile {profile!r} differs from the session's profile {session.profile.name!r}: "
            "a session's jobs all run on its profile (leave profile out to use it)"
        )
    if team is not None and team != session.team_id:
        raise InvalidRequest(f"team {team} differs from the session's team {session.team_id}")
    return session


@contextlib.contextmanager
def admitting(session: RuntimeSession | None) -> Iterator[None]:
    """Around a job's insert: the session still takes jobs (a conditional update, which also
    holds its row until the job is written, so a close cannot slip in between), and its last
    activity is now.  Without a session, just the insert."""
    if session is None:
        yield
        return
    with transaction.atomic():
        admitted = RuntimeSession.objects.filter(id=session.id, status__in=list(SESSION_TAKES_JOBS)).update(
            status=SessionStatus.ACTIVE, last_activity=timezone.now()
        )
        if not admitted:
            status = RuntimeSession.objects.filter(id=session.id).values_list("status", flat=True).first()
            raise Conflict(f"session {session.id} is {status or 'gone'}; it takes no new jobs (open a new session)")
        yield


# -- the worker's side -----------------------------------------------------------------------
def session_request(session_id) -> SessionRequest | None:
    """What the executor needs to run a job inside the session (no callback yet: the worker adds it)."""
    row = RuntimeSession.objects.filter(id=session_id).values_list("mode", "max_time", "ibm_session_id").first()
    if row is None:
        return None
    mode, max_time, remote = row
    return SessionRequest(key=str(session_id), mode=mode, max_time=max_time, remote_id=remote or None)


def attach(request: ExecutionRequest, session_id) -> None:
    """Set ``request.session`` for a job of ``session_id`` (``store.load_work``)."""
    if session_id is not None:
        request.session = session_request(session_id)


def record_remote_id(session_id, remote_id: str, backend: str = "") -> str:
    """Save the IBM session id unless one is saved already; the id to use (the first one saved)."""
    fields: dict[str, Any] = {"ibm_session_id": remote_id[:100]}
    if backend:
        fields["backend"] = backend[:100]
    RuntimeSession.objects.filter(id=session_id, ibm_session_id="").update(**fields)
    return RuntimeSession.objects.filter(id=session_id).values_list("ibm_session_id", flat=True).first() or remote_id


def expire_due(now=None) -> list:
    """Sessions past their ``max_time`` or idle for ``idle_timeout`` (no unfinished job, and no job
    submitted or finished since) stop taking jobs: status ``expired``.  Returns their ids."""
    now = now or timezone.now()
    expired = []
    rows = (
        RuntimeSession.objects.filter(status__in=list(SESSION_TAKES_JOBS))
        .annotate(last_finish=Max("jobs__finished_at"))
        .values_list("id", "created", "max_time", "idle_timeout", "last_activity", "last_finish")
    )
    for session_id, created, max_time, idle, last_activity, last_finish in rows:
        over = max_time is not None and now >= created + timedelta(seconds=max_time)
        if not over:
            last = max(t for t in (last_activity, last_finish) if t is not None)
            busy = Job.objects.filter(session_id=session_id).exclude(status__in=list(TERMINAL)).exists()
            over = not busy and now >= last + timedelta(seconds=idle)
        if over and RuntimeSession.objects.filter(id=session_id, status__in=list(SESSION_TAKES_JOBS)).update(
            status=SessionStatus.EXPIRED, closing_at=now
        ):
            expired.append(session_id)
    return expired


@dataclass
class Ending:
    """A session whose end the worker must carry out: tell IBM (``remote_id``) and mark it ended."""

    session_id: Any
    status: str
    mode: str
    remote_id: str
    spec: ExecutorSpec | None  # with the credential, only when IBM must be told
    profile_version: tuple


def due_to_end() -> list[Ending]:
    """Sessions that stopped taking jobs and are not ended yet, once IBM may be told: a cancelled
    one at once, a closed or expired one when none of its jobs is unfinished."""
    endings = []
    rows = RuntimeSession.objects.filter(status__in=list(ENDED), closed_at__isnull=True).select_related(
        "profile", "profile__credential"
    )
    for session in rows:
        unfinished = Job.objects.filter(session=session).exclude(status__in=list(TERMINAL)).exists()
        if unfinished and (session.status != SessionStatus.CANCELLED or not session.ibm_session_id):
            continue
        spec = None
        version: tuple = ()
        if session.ibm_session_id and session.profile.kind == ProfileKind.IBM_CLOUD:
            spec = session.profile.to_spec(with_secrets=True)
            version = (session.profile_id, hashlib.sha256(pickle.dumps(spec)).hexdigest())
        endings.append(Ending(session.id, session.status, session.mode, session.ibm_session_id, spec, version))
    return endings


def mark_ended(session_id) -> bool:
    """The session's jobs have finished and IBM was told: ``closed_at`` (conditional, once)."""
    return RuntimeSession.objects.filter(id=session_id, closed_at__isnull=True).update(closed_at=timezone.now()) == 1


def ended_among(keys: list[str]) -> list[str]:
    """Those of the session ids ``keys`` that have ended (or are gone)."""
    if not keys:
        return []
    open_ = RuntimeSession.objects.filter(id__in=keys, closed_at__isnull=True).values_list("id", flat=True)
    live = {str(session_id) for session_id in open_}
    return [key for key in keys if key not in live]


def jobs_of(session: RuntimeSession):
    """The session's jobs, oldest first (the order they joined it)."""
    return Job.objects.filter(session=session).select_related("profile", "team", "created_by").order_by("created", "id")
