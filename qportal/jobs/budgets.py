"""QPU budgets: estimate at submission, reserve atomically with the job row, settle at the finish.

Only jobs that run on IBM's QPUs count: ``ibm_cloud`` profiles, and clusters with an ``ibm_cloud``
member (reserved at the largest of their IBM members' estimates).  Local, fake and PennyLane jobs
never count (they use the machine, not the instance's allowance).

A submission reserves its estimate in every budget that applies (the team's and the submitter's
own) in the transaction that writes the job: one conditional UPDATE per window,
``held + used + estimate <= limit``, whose row count decides, so concurrent submissions never
overspend (PostgreSQL re-checks the condition on the row it waited for; SQLite's transactions are
IMMEDIATE).  Amounts are whole milliseconds, so sums are exact.  A job that does not fit raises
:class:`BudgetExceeded` (HTTP 402) and nothing is written.  The finish settles each hold once
(``settled`` flips in a conditional UPDATE) in the transaction that finishes the job: the estimate
leaves ``held`` and the real usage joins ``used`` in the window of the submission.  Cancel and
failure settle with the usage known (none: the hold is released).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from executors import usage_estimate
from qportal.jobs.usage_models import Budget, BudgetHold, BudgetWindow, Period
from qportal.profiles.models import ProfileKind
from qportal.profiles.services import member_resolver

REFUSED_STATUS = 402


class BudgetExceeded(Exception):
    """A job does not fit a budget (or the instance's remaining seconds): HTTP 402."""

    def __init__(self, message: str, *, remaining: float, resets_at: datetime | None, estimate: float):
        super().__init__(message)
        self.remaining = remaining
        self.resets_at = resets_at
        self.estimate = estimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "detail": str(self),
            "remaining_qpu_seconds": self.remaining,
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
            "estimated_qpu_seconds": self.estimate,
        }


def to_ms(seconds: float) -> int:
    return math.ceil(round(float(seconds) * 1000, 6))


def window_start(period: str, now: datetime) -> datetime:
    """The start (UTC) of the ``period`` that holds ``now``: midnight, Monday midnight, the 1st."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Period.DAY:
        return day
    if period == Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def window_end(period: str, start: datetime) -> datetime:
    if period == Period.DAY:
        return start + timedelta(days=1)
    if period == Period.WEEK:
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


# -- estimates -------------------------------------------------------------------------------------
def _qpu_members(profile) -> list:
    """The IBM-cloud profiles a job on ``profile`` may run on (empty: it does not count)."""
    if profile.kind == ProfileKind.IBM_CLOUD:
        return [profile]
    if profile.kind == ProfileKind.CLUSTER:
        resolve = member_resolver(profile)
        return [member for member in map(resolve, profile.members or ()) if member.kind == ProfileKind.IBM_CLOUD]
    return []


def _estimate_on(backend: str, request) -> usage_estimate.Estimate:
    target, rep_delay = usage_estimate.backend_target(backend) if backend else (None, None)
    return usage_estimate.estimate(
        request.circuits,
        request.shots,
        backend=backend or "(least busy)",
        target=target,
        rep_delay=rep_delay,
        runs=usage_estimate.pub_runs(request),  # a sweep's bindings, a PUB's own shots
    )


def qpu_estimate(profile, request) -> tuple[usage_estimate.Estimate | None, Any]:
    """``(estimate, credential)`` of a job that counts against budgets; ``(None, None)`` otherwise."""
    members = _qpu_members(profile)
    if not members:
        return None, None
    estimates = [(_estimate_on(member.backend, request), member.credential) for member in members]
    return max(estimates, key=lambda pair: pair[0].seconds)


# -- reserving -------------------------------------------------------------------------------------
def applicable(team_id: int, user_id: int | None):
    """The team's budget and the person's own, in id order (every transaction locks their windows in
    the same order, so two never wait on each other)."""
    found = Budget.objects.filter(Q(user__isnull=True) | Q(user_id=user_id), team_id=team_id)
    return found.select_related("user").order_by("id")


def _window(budget: Budget, now: datetime) -> BudgetWindow:
    start = window_start(budget.period, now)
    BudgetWindow.objects.bulk_create([BudgetWindow(budget=budget, start=start)], ignore_conflicts=True)
    return BudgetWindow.objects.get(budget=budget, start=start)


def _who(budget: Budget) -> str:
    return f"{budget.user.get_username()}'s" if budget.user_id else "the team's"


def _refusal(budget: Budget, window: BudgetWindow, estimate_ms: int) -> BudgetExceeded:
    fresh = BudgetWindow.objects.filter(id=window.id).values_list("held_ms", "used_ms").first() or (0, 0)
    remaining = max(0, to_ms(budget.seconds) - fresh[0] - fresh[1]) / 1000
    resets = window_end(budget.period, window.start)
    return BudgetExceeded(
        f"this job's estimated {estimate_ms / 1000:g} QPU seconds do not fit {_who(budget)} {budget.period}ly "
        f"budget of {budget.seconds:g} s: {remaining:g} s remain (held or used by other jobs: "
        f"{(fresh[0] + fresh[1]) / 1000:g} s); it resets at {resets.isoformat()}",
        remaining=remaining,
        resets_at=resets,
        estimate=estimate_ms / 1000,
    )


def check_instance(credential, estimate: float) -> None:
    """Refuse a job the instance's last known remaining seconds (``service.usage()``) cannot hold."""
    known = getattr(credential, "usage", None) or {}
    remaining = known.get("usage_remaining_seconds")
    if known.get("usage_limit_reached") or (remaining is not None and remaining < estimate):
        remaining = float(remaining or 0)
        raise BudgetExceeded(
            f"the IBM instance of credential {credential.name!r} has {remaining:g} QPU seconds left "
            f"(read {credential.usage_checked_at or timezone.now():%Y-%m-%d %H:%M} UTC) and this job needs an "
            f"estimated {estimate:g} s; it resets when IBM renews the instance's allowance",
            remaining=remaining,
            resets_at=None,
            estimate=estimate,
        )


def reserve(job, estimate_seconds: float, now: datetime | None = None) -> int:
    """Hold ``estimate_seconds`` for ``job`` in each budget that applies; :class:`BudgetExceeded`
    (the caller's transaction rolls back) when one has not that much left."""
    now = now or timezone.now()
    estimate_ms = to_ms(estimate_seconds)
    holds = []
    for budget in applicable(job.team_id, job.created_by_id):
        window = _window(budget, now)
        room = to_ms(budget.seconds) - estimate_ms
        fits = BudgetWindow.objects.filter(id=window.id, held_ms__lte=room - F("used_ms"))
        if not fits.update(held_ms=F("held_ms") + estimate_ms):
            raise _refusal(budget, window, estimate_ms)
        holds.append(BudgetHold(job_id=job.id, window=window, held_ms=estimate_ms))
    BudgetHold.objects.bulk_create(holds)
    return len(holds)


def check_fits(team_id: int, user_id: int | None, estimate_seconds: float, now: datetime | None = None) -> None:
    """``reserve``'s verdict without writing anything (a dry run)."""
    now = now or timezone.now()
    estimate_ms = to_ms(estimate_seconds)
    for budget in applicable(team_id, user_id):
        start = window_start(budget.period, now)
        window = BudgetWindow.objects.filter(budget=budget, start=start).first() or BudgetWindow(
            budget=budget, start=start
        )
        if window.held_ms + window.used_ms + estimate_ms > to_ms(budget.seconds):
            raise _refusal(budget, window, estimate_ms)


def admit(user, team, profile, request, *, dry_run: bool = False) -> usage_estimate.Estimate | None:
    """The estimate of a job that counts against budgets (None for one that does not), refused
    with :class:`BudgetExceeded` when the instance has run out; a dry run also checks the budgets
    (a real submission reserves them in ``holding``)."""
    estimate, credential = qpu_estimate(profile, request)
    if estimate is None:
        return None
    if credential is not None:
        check_instance(credential, estimate.seconds)
    if dry_run:
        check_fits(team.id, user.pk, estimate.seconds)
    return estimate


def dry_run_answer(user, team, profile, request, estimate: usage_estimate.Estimate | None) -> dict[str, Any]:
    """What ``POST /jobs`` with ``dry_run`` answers: the job as it would run, and its estimate."""
    counts = estimate is not None
    if estimate is None and profile.kind == ProfileKind.FAKE:
        estimate = _estimate_on(profile.backend, request)  # a fake device's target: shown, never counted
    answer = {
        "dry_run": True,
        "valid": True,
        "team": team.id,
        "profile": profile.name,
        "kind": profile.kind,
        "backend": profile.backend,
        "num_circuits": len(request.circuits),
        "shots": request.shots,
        "counts_against_budget": counts,
        "estimated_qpu_seconds": None,
        "computed_from": None,
        "budgets": [standing.to_dict() for standing in standings(team.id) if standing.applies_to(user.pk)],
    }
    if estimate is not None:
        answer.update(estimate.to_dict())
    return answer


@contextmanager
def holding(job, estimate: usage_estimate.Estimate | None):
    """Around the job's insert: with an estimate, the insert and the holds are one transaction."""
    if estimate is None:
        yield
        return
    with transaction.atomic():
        yield
        reserve(job, estimate.seconds)


# -- settling --------------------------------------------------------------------------------------
def settle(job_id, qpu_seconds: float | None, team_id: int | None = None, user_id: int | None = None) -> int:
    """Settle the job's holds once: each hold's estimate leaves ``held``, ``qpu_seconds`` joins
    ``used``.  A job that ran on the QPU without holds (no budget at its submission) is charged to
    the current windows of the budgets that apply now; one whose holds were released before its
    charge was known (failed by an owner while it ran) is charged to its holds' windows.  Called
    once per job with its usage (``usage.record``, unique by job).  Returns the holds settled."""
    used_ms = to_ms(qpu_seconds or 0)
    settled = 0
    holds = BudgetHold.objects.filter(job_id=job_id, settled=False).order_by("window__budget_id")
    for hold_id, window_id, held_ms in holds.values_list("id", "window_id", "held_ms"):
        if BudgetHold.objects.filter(id=hold_id, settled=False).update(settled=True):
            BudgetWindow.objects.filter(id=window_id).update(
                held_ms=F("held_ms") - held_ms, used_ms=F("used_ms") + used_ms
            )
            settled += 1
    if settled or not used_ms:
        return settled
    released = list(BudgetHold.objects.filter(job_id=job_id).values_list("window_id", flat=True))
    if released:
        BudgetWindow.objects.filter(id__in=released).update(used_ms=F("used_ms") + used_ms)
    elif team_id is not None:
        for budget in applicable(team_id, user_id):
            BudgetWindow.objects.filter(id=_window(budget, timezone.now()).id).update(used_ms=F("used_ms") + used_ms)
    return settled


def release(job_id) -> int:
    """Give back what an unfinished job held (cancelled before it ran, failed by an owner)."""
    return settle(job_id, 0)


@dataclass
class Standing:
    """A budget and its current window, as pages and the API show it."""

    budget: Budget
    start: datetime
    resets_at: datetime
    held: float
    used: float

    def applies_to(self, user_id: int | None) -> bool:
        return self.budget.user_id is None or self.budget.user_id == user_id

    @property
    def remaining(self) -> float:
        return max(0.0, (to_ms(self.budget.seconds) - to_ms(self.held) - to_ms(self.used)) / 1000)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.budget.id,
            "team": self.budget.team_id,
            "user": self.budget.user.get_username() if self.budget.user_id else None,
            "period": self.budget.period,
            "seconds": self.budget.seconds,
            "period_start": self.start,
            "resets_at": self.resets_at,
            "held_seconds": self.held,
            "used_seconds": self.used,
            "remaining_seconds": self.remaining,
        }


def standings(team_id: int, now: datetime | None = None) -> list[Standing]:
    now = now or timezone.now()
    rows = []
    for budget in Budget.objects.filter(team_id=team_id).select_related("user").order_by("user__username"):
        start = window_start(budget.period, now)
        held, used = BudgetWindow.objects.filter(budget=budget, start=start).values_list(
            "held_ms", "used_ms"
        ).first() or (0, 0)
        rows.append(Standing(budget, start, window_end(budget.period, start), held / 1000, used / 1000))
    return rows
