"""Teams and their members: create, rename, add, change a role, remove, leave.

Shared by the API and the pages. Owners manage a team; any member may leave it; a team always
keeps an owner (the last one can neither leave nor be demoted nor removed). Personal teams are one
user's and get no members. Each change is audited in its own transaction and tells the jobs app
(``signals.teams_changed``) so the person's open team streams follow at once.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db import transaction

from qportal.accounts import audit
from qportal.accounts.access import Conflict, NotFound, ReadOnly, membership
from qportal.accounts.models import Membership, Role, Team
from qportal.accounts.signals import send_teams_changed

NAME_RE = re.compile(r"^\S(.{0,98}\S)?$")


class TeamInvalid(Exception):
    """A field is invalid (a 400)."""


class NotTeamOwner(ReadOnly):
    """Only owners manage a team's name and members (a 403)."""


def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not NAME_RE.match(name):
        raise TeamInvalid("name must be 1-100 characters, not only spaces")
    if name.endswith("(personal)"):
        raise TeamInvalid("names ending in '(personal)' are kept for personal teams")
    return name


def clean_role(role: str) -> str:
    if role not in Role.values:
        raise TeamInvalid(f"role must be one of {', '.join(Role.values)}, not {role!r}")
    return role


def owned_team(user, team_id: int) -> Team:
    """The team, if ``user`` owns it: ``NotFound`` outside it, ``NotTeamOwner`` for members and viewers."""
    found = membership(user, team_id)
    if found.role != Role.OWNER:
        raise NotTeamOwner(f"only the owners of team {found.team.name!r} can change it and its members")
    return found.team


def shared_team(user, team_id: int) -> Team:
    """``owned_team``, refusing a personal team (it has one member, for good)."""
    team = owned_team(user, team_id)
    if team.personal:
        raise Conflict("a personal team has no other members: create a team to share")
    return team


def members(team_id: int) -> list[Membership]:
    """Owners first, then members, then viewers, each by username."""
    order = {Role.OWNER: 0, Role.MEMBER: 1, Role.VIEWER: 2}
    found = list(Membership.objects.filter(team_id=team_id).select_related("user"))
    return sorted(found, key=lambda m: (order.get(m.role, 3), m.user.get_username().lower()))


def create(user, name: str) -> Team:
    name = clean_name(name)
    with transaction.atomic():
        team = Team.objects.create(name=name)
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
        audit.record(user, team.id, "team.created", name)
    send_teams_changed(user.pk)
    return team


def rename(user, team_id: int, name: str) -> Team:
    name = clean_name(name)
    with transaction.atomic():
        team = shared_team(user, team_id)
        old = team.name
        if old != name:
            Team.objects.filter(pk=team.pk).update(name=name)
            team.name = name
            audit.record(user, team.id, "team.renamed", name, old=old)
    return team


def _member(team_id: int, username: str) -> Membership:
    found = Membership.objects.select_for_update().filter(team_id=team_id, user__username=username).first()
    if found is None:
        raise NotFound(f"{username!r} is not a member of this team")
    return found


def _other_owners(team_id: int, user_id: int) -> bool:
    others = Membership.objects.select_for_update().filter(team_id=team_id, role=Role.OWNER).exclude(user_id=user_id)
    return others.exists()


def add_member(user, team_id: int, username: str, role: str) -> Membership:
    """Add an existing user at once (the API's ``POST /teams/{id}/members``)."""
    role = clean_role(role)
    with transaction.atomic():
        team = shared_team(user, team_id)
        person = get_user_model().objects.filter(username=username).first()
        if person is None:
            raise TeamInvalid(f"there is no user {username!r}: invite them by email instead")
        if Membership.objects.filter(team=team, user=person).exists():
            raise Conflict(f"{username!r} is already a member of this team")
        added = Membership.objects.create(team=team, user=person, role=role)
        audit.record(user, team.id, "member.joined", username, role=role, added_by=user.get_username())
    send_teams_changed(person.pk)
    return added


def join(person, team: Team, role: str, invited_by: str) -> Membership | None:
    """Add ``person`` on accepting an invitation (inside the caller's transaction); None if a member already."""
    if Membership.objects.filter(team=team, user=person).exists():
        return None
    added = Membership.objects.create(team=team, user=person, role=role)
    audit.record(person, team.id, "member.joined", person.get_username(), role=role, invited_by=invited_by)
    send_teams_changed(person.pk)
    return added


def change_role(user, team_id: int, username: str, role: str) -> Membership:
    role = clean_role(role)
    with transaction.atomic():
        team = shared_team(user, team_id)
        found = _member(team.id, username)
        old = found.role
        if old == role:
            return found
        if old == Role.OWNER and not _other_owners(team.id, found.user_id):
            raise Conflict("the team's last owner cannot be demoted: make someone else an owner first")
        Membership.objects.filter(pk=found.pk).update(role=role)
        found.role = role
        audit.record(user, team.id, "member.role_changed", username, old=old, role=role)
    send_teams_changed(found.user_id)
    return found


def remove_member(user, team_id: int, username: str) -> None:
    """An owner removes someone; removing oneself is ``leave``."""
    if username == user.get_username():
        leave(user, team_id)
        return
    with transaction.atomic():
        team = shared_team(user, team_id)
        found = _member(team.id, username)
        if found.role == Role.OWNER and not _other_owners(team.id, found.user_id):
            raise Conflict("the team's last owner cannot be removed")
        found.delete()
        audit.record(user, team.id, "member.removed", username, role=found.role)
    send_teams_changed(found.user_id)


def leave(user, team_id: int) -> None:
    with transaction.atomic():
        found = membership(user, team_id)
        if found.team.personal:
            raise Conflict("you cannot leave your personal team")
        found = _member(team_id, user.get_username())
        if found.role == Role.OWNER and not _other_owners(team_id, user.pk):
            raise Conflict("you are the team's last owner: make someone else an owner before you leave")
        found.delete()
        audit.record(user, team_id, "member.left", user.get_username(), role=found.role)
    send_teams_changed(user.pk)
