"""A team's audit trail: who did what to it, and when.

Services call ``record`` in the same transaction as the change they make (an entry never
describes a change that rolled back).  Entries name the actor by username and the target by name,
so they read the same after either is gone; ``data`` never holds a secret (a token is recorded
as "replaced", never as its value).  Only a team's owners read it (``entries``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from qportal.accounts.access import NotFound, ReadOnly, is_owner, membership
from qportal.accounts.models import AuditEntry

ACTIONS = (
    "credential.created",
    "credential.updated",
    "credential.deleted",
    "credential.check_requested",
    "profile.created",
    "profile.updated",
    "profile.deleted",
    "job.cancelled",
    "job.force_failed",
    "job.deleted",
    "key.created",
    "key.revoked",
    "team.created",
    "team.renamed",
    "member.invited",
    "member.invitation_revoked",
    "member.joined",
    "member.role_changed",
    "member.removed",
    "member.left",
    "notification.created",
    "notification.deleted",
    "budget.set",
    "budget.removed",
)


def record(actor, team_id: int, action: str, target: str = "", **data: Any) -> AuditEntry:
    """Append an entry; ``actor`` is a user or None (the system)."""
    name = actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else ""
    return record_as(name, team_id, action, target, **data)


def record_as(username: str, team_id: int, action: str, target: str = "", **data: Any) -> AuditEntry:
    """``record`` with the actor given by username (blank: the system)."""
    return AuditEntry.objects.create(
        team_id=team_id, actor=str(username or "")[:150], action=action, target=str(target)[:200], data=data
    )


class NotOwner(ReadOnly):
    """A member who is not an owner asked for the audit trail (a 403, as any refused write)."""


def entries(user, team_id: int) -> QuerySet[AuditEntry]:
    """The team's entries, newest first: ``NotFound`` outside the team, ``NotOwner`` for a non-owner."""
    membership(user, team_id)  # NotFound unless a member
    if not is_owner(user, team_id):
        raise NotOwner("only the team's owners can read its audit trail")
    return AuditEntry.objects.filter(team_id=team_id)


__all__ = ["ACTIONS", "NotFound", "NotOwner", "entries", "record", "record_as"]
