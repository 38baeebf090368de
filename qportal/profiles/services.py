"""Finding and validating executor profiles."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from executors.base import ExecutorError
from executors.registry import backend_max_qubits
from qportal.accounts.access import NotFound
from qportal.accounts.models import Membership
from qportal.profiles.models import ExecutorProfile, ProfileKind


class ProfileInvalid(Exception):
    pass


def visible_profiles(user) -> QuerySet[ExecutorProfile]:
    """Built-in profiles and those of the user's teams (one query: the teams are a subquery)."""
    teams = Membership.objects.filter(user=user).values("team_id")
    return ExecutorProfile.objects.filter(Q(team__isnull=True) | Q(team_id__in=teams)).select_related("team")


def resolve_profile(user, name: str, team_id: int | None = None) -> ExecutorProfile:
    """The profile ``name`` as seen from ``team_id`` (or from any of the user's teams).

    A team's own profile shadows a built-in one of the same name.
    """
    candidates = list(visible_profiles(user).filter(name=name).order_by())  # same name: no ORDER BY needed
    if team_id is not None:
        candidates = [p for p in candidates if p.team_id in (team_id, None)]
    if not candidates:
        raise NotFound(f"profile {name!r} not found")
    owned = [p for p in candidates if p.team_id is not None]
    if len(owned) > 1:
        teams = ", ".join(sorted(p.team.name for p in owned))
        raise ProfileInvalid(f'profile {name!r} exists in several of your teams ({teams}); say which with "team"')
    return owned[0] if owned else candidates[0]


def member_resolver(profile: ExecutorProfile):
    """Resolve cluster member names within the cluster profile's team (or built-ins)."""

    def resolve(name: str) -> ExecutorProfile:
        found = ExecutorProfile.objects.filter(Q(team_id=profile.team_id) | Q(team__isnull=True), name=name)
        found = sorted(found, key=lambda p: p.team_id is None)
        if not found:
            raise ProfileInvalid(f"cluster member profile {name!r} not found")
        return found[0]

    return resolve


def profile_max_qubits(profile: ExecutorProfile) -> int | None:
    if profile.max_qubits:
        return profile.max_qubits
    if profile.kind in (ProfileKind.LOCAL, ProfileKind.FAKE):
        try:
            return backend_max_qubits(profile.to_spec())
        except ExecutorError as exc:
            raise ProfileInvalid(str(exc)) from None
    if profile.kind == ProfileKind.CLUSTER:
        resolve = member_resolver(profile)
        limits = [profile_max_qubits(resolve(name)) for name in profile.members]
        known = [n for n in limits if n is not None]
        return min(known) if known else None
    return None
