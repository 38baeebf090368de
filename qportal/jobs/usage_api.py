"""``/api/v1/usage`` (totals and CSV) and ``/api/v1/budgets`` (QPU budgets, set by team owners)."""

from __future__ import annotations

import math
from datetime import date

from django.http import JsonResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.responses import NinjaJSONEncoder

from qportal.accounts.access import membership
from qportal.jobs import budget_settings, budgets, usage, usage_export
from qportal.jobs.usage_schemas import BudgetOut

router = Router(tags=["usage"])


def budget_refusal(api, request, exc: budgets.BudgetExceeded):
    """A job refused for a budget: 402 with what remains and when it resets (``Retry-After``)."""
    response = api.create_response(request, exc.to_dict(), status=budgets.REFUSED_STATUS)
    if exc.resets_at is not None:
        response["Retry-After"] = str(max(1, math.ceil((exc.resets_at - timezone.now()).total_seconds())))
    return response


class UsageQuery(Schema):
    team: int = Field(..., description="the team's id")
    period: str | None = Field(None, description="`day`, `week` or `month` (the current one, UTC) or `all`")
    from_: date | None = Field(None, alias="from", description="first day (UTC), inclusive")
    to: date | None = Field(None, description="last day (UTC), inclusive")
    group_by: str = Field("user,profile,backend,day", description="comma-separated: user, profile, backend, day, kind")


@router.get(
    "/usage",
    summary="A team's usage: totals and groupings",
    description="QPU seconds (IBM jobs), wall and CPU seconds (simulations) and job counts of the team's "
    "finished jobs, for the team and grouped per person, profile, backend, day or kind. Default: this "
    "calendar month (UTC).",
)
def team_usage(request, query: Query[UsageQuery]):
    membership(request.user, query.team)  # NotFound outside the team
    start, end = usage.date_range(query.period, query.from_, query.to)
    body = {
        "team": query.team,
        "from": start,
        "to": end,
        **usage.totals(query.team, start, end, usage.clean_groups(query.group_by)),
    }
    body["budgets"] = [standing.to_dict() for standing in budgets.standings(query.team)]
    return JsonResponse(body, encoder=NinjaJSONEncoder)


@router.get("/usage/export", response={200: None}, summary="A team's usage as CSV, one row per job")
def usage_csv(request, query: Query[UsageQuery]):
    membership(request.user, query.team)
    start, end = usage.date_range(query.period, query.from_, query.to)
    return usage_export.csv_response(query.team, start, end)


class BudgetIn(Schema):
    team: int
    period: str = Field(..., description="`day`, `week` or `month` (UTC; a week starts on Monday)")
    seconds: float = Field(..., description="QPU seconds per period")
    user: str | None = Field(None, description="a member's username; omitted: the whole team's budget")


@router.get(
    "/budgets", response=list[BudgetOut], summary="A team's QPU budgets with what is held, used and left this period"
)
def list_budgets(request, team: int):
    membership(request.user, team)
    return [s.to_dict() for s in budgets.standings(team)]


@router.put(
    "/budgets",
    response=BudgetOut,
    summary="Set a QPU budget (team owners)",
    description="Creates or changes the team's budget, or a member's with `user`. Only jobs on IBM "
    "profiles count. Recorded in the team's audit trail.",
)
def put_budget(request, payload: BudgetIn):
    budget = budget_settings.set_budget(request.user, payload.team, payload.period, payload.seconds, payload.user)
    return next(s for s in budgets.standings(payload.team) if s.budget.id == budget.id).to_dict()


@router.delete("/teams/{team_id}/budgets/{budget_id}", response={204: None}, summary="Remove a budget (owners)")
def delete_budget(request, team_id: int, budget_id: int):
    budget_settings.remove_budget(request.user, team_id, budget_id)
    return 204, None
