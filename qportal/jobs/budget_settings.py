"""Setting and removing QPU budgets: a team owner's change, recorded in the team's audit trail."""

from __future__ import annotations

import math

from django.db import transaction

from qportal.accounts import audit
from qportal.accounts.access import NotFound
from qportal.accounts.models import Membership
from qportal.accounts.teams import TeamInvalid, owned_team
from qportal.jobs.usage_models import Budget, Period

MAX_SECONDS = 10**9


def clean_seconds(seconds) -> float:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise TeamInvalid(f"seconds must be a number of QPU seconds, not {seconds!r}") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise TeamInvalid(f"seconds must be between 0 and {MAX_SECONDS:,}, got {seconds!r}")
    return round(value, 3)


def set_budget(user, team_id: int, period: str, seconds, member: str | None = None) -> Budget:
    """Create or change the team's budget (``member`` None) or one member's; owners only."""
    team = owned_team(user, team_id)
    if period not in Period.values:
        raise TeamInvalid(f"period must be one of {', '.join(Period.values)}, not {period!r}")
    value = clean_seconds(seconds)
    person = None
    if member:
        found = Membership.objects.filter(team=team, user__username=member).select_related("user").first()
        if found is None:
            raise NotFound(f"{member!r} is not a member of team {team.name!r}")
        person = found.user
    with transaction.atomic():
        budget = Budget.objects.select_for_update().filter(team=team, user=person).first()
        before = None if budget is None else {"period": budget.period, "seconds": budget.seconds}
        if budget is None:
            budget = Budget(team=team, user=person)
        budget.period, budget.seconds = period, value
        budget.save()
        audit.record(
            user,
            team.id,
            "budget.set",
            member or "the team",
            period=period,
            seconds=value,
            before=before,
        )
    return budget


def remove_budget(user, team_id: int, budget_id: int) -> None:
    team = owned_team(user, team_id)
    with transaction.atomic():
        budget = Budget.objects.filter(team=team, id=budget_id).select_related("user").first()
        if budget is None:
            raise NotFound("budget not found")
        target = budget.user.get_username() if budget.user_id else "the team"
        audit.record(user, team.id, "budget.removed", target, period=budget.period, seconds=budget.seconds)
        budget.delete()
