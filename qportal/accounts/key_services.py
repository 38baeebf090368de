"""Self-service API keys: issuing, listing and revoking them; shared by the API and the Keys page.

A key may be limited to one team (it then acts on that team alone), be read-only, and expire.
A key made with a key keeps its maker's limits: never a wider team, a later expiry, or writes.
Team-scoped keys are audited in their team, by name and prefix (never the key), and the team's
owners see and revoke them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from qportal.accounts import audit
from qportal.accounts.access import NotFound, ReadOnly, is_owner, key_team_id, membership
from qportal.accounts.models import ApiKey

MAX_DAYS = 3650


class KeyInvalid(Exception):
    """A field of a new key is invalid."""


def clean_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise KeyInvalid("name must be 1-100 characters")
    return name


def clean_expires(expires: datetime | int | None, now: datetime) -> datetime | None:
    """A date-time in the future, or a whole number of days from now; None: never."""
    if expires is None:
        return None
    if isinstance(expires, int) and not isinstance(expires, bool):
        if not 1 <= expires <= MAX_DAYS:
            raise KeyInvalid(f"expires in days must be between 1 and {MAX_DAYS}")
        return now + timedelta(days=expires)
    if not isinstance(expires, datetime):
        raise KeyInvalid("expires must be a date-time or a number of days")
    if timezone.is_naive(expires):
        raise KeyInvalid("expires needs a time zone, e.g. 2027-01-31T12:00:00Z")
    if expires <= now:
        raise KeyInvalid("expires must be in the future")
    if expires > now + timedelta(days=MAX_DAYS):
        raise KeyInvalid(f"expires must be within {MAX_DAYS} days")
    return expires


def create(
    user,
    name: str,
    *,
    expires: datetime | int | None = None,
    read_only: bool = False,
    team_id: int | None = None,
    via: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """A new key of ``user`` and its text (shown once); ``via``: the key the request came with."""
    now = timezone.now()
    name, expires = clean_name(name), clean_expires(expires, now)
    if via is not None:
        team_id = team_id if team_id is not None else via.team_id
        if via.expires is not None:
            if expires is not None and expires > via.expires:
                raise KeyInvalid("a key made with an expiring key cannot outlive it")
            expires = expires or via.expires
        read_only = read_only or via.read_only
    if team_id is not None:
        membership(user, team_id)  # NotFound outside the team, or outside a scoped key's team
    elif key_team_id(user) is not None:
        raise NotFound("team not found")
    with transaction.atomic():
        key, text = ApiKey.issue(user, name, expires=expires, read_only=read_only, team_id=team_id)
        if team_id is not None:
            audit.record(
                user,
                team_id,
                "key.created",
                name,
                prefix=key.prefix,
                read_only=read_only,
                expires=expires.isoformat() if expires else None,
            )
    return key, text


def status(key: ApiKey, now: datetime | None = None) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires is not None and key.expires <= (now or timezone.now()):
        return "expired"
    return "active"


def mine(user) -> QuerySet[ApiKey]:
    """The user's keys, newest first (with a team-scoped key: that team's only)."""
    found = ApiKey.objects.filter(user=user).select_related("team", "user").order_by("-created", "-id")
    scoped = key_team_id(user)
    return found.filter(team_id=scoped) if scoped is not None else found


class NotOwner(ReadOnly):
    """A member who is not an owner asked for the team's keys (403)."""


def team_keys(user, team_id: int) -> QuerySet[ApiKey]:
    """Every member's keys scoped to the team, for its owners: NotFound outside it, NotOwner else."""
    membership(user, team_id)
    if not is_owner(user, team_id):
        raise NotOwner("only the team's owners see its members' keys")
    return ApiKey.objects.filter(team_id=team_id).select_related("team", "user").order_by("-created", "-id")


def revocable(user, key_id: int) -> ApiKey:
    """The key if ``user`` may revoke it: their own, or one scoped to a team they own."""
    key = ApiKey.objects.filter(id=key_id).select_related("team", "user").first()
    if key is not None:
        scoped = key_team_id(user)
        if key.user_id == user.pk and scoped in (None, key.team_id):
            return key
        if key.team_id is not None and is_owner(user, key.team_id):
            return key
    raise NotFound("API key not found")


def revoke(user, key: ApiKey) -> ApiKey:
    """Revoke at once (the next request with it gets a 401); revoking a revoked key changes nothing."""
    now = timezone.now()
    with transaction.atomic():
        if ApiKey.objects.filter(id=key.id, revoked_at__isnull=True).update(revoked_at=now):
            key.revoked_at = now
            if key.team_id is not None:
                audit.record(user, key.team_id, "key.revoked", key.name, prefix=key.prefix, owner=key.user.username)
    return key
