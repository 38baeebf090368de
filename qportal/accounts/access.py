"""Who may see and do what. Another team's object is reported as not found, never as forbidden.

The rule, defined here once: a user sees the objects of every team they are a member of (any
role) and changes those of teams where their role is in ``WRITE_ROLES``; a request made with a
team-scoped API key (``key_team_id``) is a member of that one team at most. It exists in two forms,
an ORM filter (:func:`team_filter`) and an SQL fragment (:func:`team_ids_sql`) for the
hand-written statements; tests/test_access_rule.py checks that they agree.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet

from qportal.accounts import queries
from qportal.accounts.models import WRITE_ROLES, Membership, Role, Team


class NotFound(Exception):
    """The object does not exist or belongs to a team the user is not in."""


class ReadOnly(Exception):
    """The user is a viewer of this team."""


class Conflict(Exception):
    """The request is valid but the object's state forbids it (a finished job, a duplicate name)."""


def key_team_id(user) -> int | None:
    """The one team the request's API key is limited to (set by ``qportal.auth``); None: no limit."""
    return getattr(user, "key_team_id", None)


def _memberships(user, write: bool) -> QuerySet[Membership]:
    found = Membership.objects.filter(user=user)
    if key_team_id(user) is not None:
        found = found.filter(team_id=key_team_id(user))
    return found.filter(role__in=WRITE_ROLES) if write else found


def team_filter(user, field: str = "team_id", *, write: bool = False) -> Q:
    """ORM filter: ``field`` is a team the user may see (or, with ``write``, change)."""
    return Q(**{f"{field}__in": _memberships(user, write).values("team_id")})


def team_ids_sql(user, *, write: bool = False) -> tuple[str, list]:
    """SQL fragment for ``<team column> IN (...)``: a subquery of the user's team ids, and its parameters."""
    sql, params = f'SELECT "m"."team_id" FROM "{Membership._meta.db_table}" "m" WHERE "m"."user_id" = %s', [user.pk]
    if key_team_id(user) is not None:
        sql, params = sql + ' AND "m"."team_id" = %s', [*params, key_team_id(user)]
    if not write:
        return sql, params
    roles = ", ".join(["%s"] * len(WRITE_ROLES))
    return sql + f' AND "m"."role" IN ({roles})', [*params, *(role.value for role in WRITE_ROLES)]


def team_ids(user, *, write: bool = False) -> list[int]:
    return list(_memberships(user, write).values_list("team_id", flat=True))


def is_owner(user, team_id: int) -> bool:
    return _memberships(user, True).filter(team_id=team_id, role=Role.OWNER).exists()


def can_write(user, team_id: int) -> bool:
    return _memberships(user, True).filter(team_id=team_id).exists()


def user_teams(user) -> QuerySet[Team]:
    return Team.objects.filter(id__in=_memberships(user, False).values("team_id")).order_by("-personal", "name")


def membership(user, team_id: int) -> Membership:
    """The user's membership of ``team_id`` with its team (it is read on every submission)."""
    scoped = key_team_id(user)
    found = queries.membership_with_team(user.pk, team_id) if scoped in (None, team_id) else None
    if found is None:
        raise NotFound("team not found")
    return found


def writable_membership(user, team_id: int) -> Membership:
    found = membership(user, team_id)
    if not found.can_write:
        raise ReadOnly(f"you are a viewer of team {found.team.name!r} and cannot change it")
    return found


def personal_team(user) -> Team:
    """The user's personal team, created on first use (looked up without a transaction of its own).
    For a team-scoped API key, its team stands in: where its things go when no team is named."""
    if key_team_id(user) is not None:
        return membership(user, key_team_id(user)).team
    found = queries.personal_team(user.pk)
    if found is not None:
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
