"""``/usage/``: a team's usage (totals per person, profile, backend and day, a chart, CSV) and its
QPU budgets (owners set them here; every change is in the audit trail shown below them)."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from executors.base import InvalidRequest
from qportal.accounts.access import NotFound, ReadOnly, is_owner, membership, user_teams
from qportal.accounts.models import AuditEntry, Membership
from qportal.accounts.teams import TeamInvalid
from qportal.jobs import budget_settings, budgets, usage, usage_chart, usage_export
from qportal.jobs.usage_models import Period

PERIODS = ("day", "week", "month", "all")
TABLES = (("user", "Per person"), ("profile", "Per profile"), ("backend", "Per backend"), ("day", "Per day"))


def _team(request) -> int:
    teams = list(user_teams(request.user).order_by("personal", "name").values_list("id", flat=True))
    given = request.GET.get("team") or request.POST.get("team")
    team_id = int(given) if given and given.isdigit() else (teams[0] if teams else 0)
    try:
        membership(request.user, team_id)
    except NotFound:
        raise Http404("team not found") from None
    return team_id


def _range(request):
    """``(period, (from, to))``: ``?from=&to=`` (inclusive dates) when given, else ``?period=``."""
    low, high = (_date(request.GET.get(name)) for name in ("from", "to"))
    if low or high:
        try:
            return "", usage.date_range(None, low, high)
        except InvalidRequest:
            raise Http404("from must be on or before to") from None
    period = request.GET.get("period") or "month"
    if period not in PERIODS:
        raise Http404("unknown period")
    return period, usage.date_range(period, None, None)


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Http404(f"not a date: {text[:20]!r}") from None


@login_required
def usage_page(request):
    team_id = _team(request)
    period, (start, end) = _range(request)
    totals = usage.totals(team_id, start, end, ["user", "profile", "backend", "day"])
    owner = is_owner(request.user, team_id)
    context = {
        "team": membership(request.user, team_id).team,
        "teams": user_teams(request.user).order_by("personal", "name"),
        "period": period,
        "periods": PERIODS,
        "start": start,
        "end": end,
        "last_day": end - timedelta(days=1) if end else None,
        "query": urlencode(
            {"team": team_id, "period": period}
            if period
            else {"team": team_id, **{k: request.GET[k] for k in ("from", "to") if request.GET.get(k)}}
        ),
        "totals": totals,
        "tables": [(name, title, totals["groups"][name]) for name, title in TABLES],
        "chart": usage_chart.build(usage.per_day_by_user(team_id, start, end)),
        "standings": budgets.standings(team_id),
        "owner": owner,
        "budget_periods": Period.values,
        "members": Membership.objects.filter(team_id=team_id).select_related("user").order_by("user__username"),
        "trail": AuditEntry.objects.filter(team_id=team_id, action__startswith="budget.")[:20] if owner else None,
    }
    return render(request, "jobs/usage.html", context)


@login_required
def usage_csv(request):
    team_id = _team(request)
    _, (start, end) = _range(request)
    return usage_export.csv_response(team_id, start, end)


@login_required
@require_POST
def budget_set(request):
    team_id = _team(request)
    try:
        budget_settings.set_budget(
            request.user,
            team_id,
            request.POST.get("period", ""),
            request.POST.get("seconds", ""),
            request.POST.get("user") or None,
        )
        messages.success(request, "Budget saved.")
    except (ReadOnly, TeamInvalid, NotFound, InvalidRequest) as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('usage')}?team={team_id}")


@login_required
@require_POST
def budget_remove(request, budget_id: int):
    team_id = _team(request)
    try:
        budget_settings.remove_budget(request.user, team_id, budget_id)
        messages.success(request, "Budget removed.")
    except (ReadOnly, NotFound) as exc:
        messages.error(request, str(exc))
    return redirect(f"{reverse('usage')}?team={team_id}")
