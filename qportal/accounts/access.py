"""Who may see and do what. Another team's object is reported as not found, never as forbidden."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet

from qportal.accounts.models import Membership, Role, Team


class NotFound(Exception):
    """The object does not exist or belongs to a team the user is not in."""


class ReadOnly(Exception):
    """The user is a viewer of this team."""


def team_ids(user) -> list[int]:
    return list(Membership.objects.filter(user=user).values_list("team_id", flat=True))


def user_teams(user) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).order_by("-personal", "name")


def membership(user, team_id: int) -> Membership:
    found = Membership.objects.filter(user=user, team_id=team_id).select_related("team").first()
    if found is None:
        raise NotFound("team not found")
    return found


def writable_membership(user, team_id: int) -> Membership:
    found = membership(user, team_id)
    if not found.can_write:
        raise ReadOnly(f"you are a viewer of team {found.team.name!r} and cannot change it")
    return found


def personal_team(user) -> Team:
    """The user's personal team, created on first use (looked up without a transaction of its own)."""
    found = Team.objects.filter(personal=True, memberships__user=user, memberships__role=Role.OWNER).first()
    if found:
        return found
    with transaction.atomic():
        team = Team.objects.create(name=f"{user.get_username()} (personal)", personal=True)
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def ensure_user(username: str):
    """Fetch or create a user with a personal team (used by create_api_key)."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    personal_team(user)
    return user
