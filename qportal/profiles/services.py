"""Finding and validating executor profiles."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from executors.base import ExecutorError
from executors.memory import memory_max_qubits
from executors.registry import backend_max_qubits
from qportal.accounts.access import NotFound, team_filter
from qportal.profiles import queries
from qportal.profiles.models import ExecutorProfile, ProfileKind


class ProfileInvalid(Exception):
    pass


def visible_profiles(user) -> QuerySet[ExecutorProfile]:
    """Built-in profiles and those of the user's teams (one query: the teams are a subquery)."""
    return ExecutorProfile.objects.filter(Q(team__isnull=True) | team_filter(user)).select_related("team")


def resolve_profile(user, name: str, team_id: int | None = None) -> ExecutorProfile:
    """The profile ``name`` as seen from ``team_id`` (or from any of the user's teams).

    A team's own profile shadows a built-in one of the same name.
    """
    return _resolve(user, name, team_id)[0]


def resolve_profile_and_personal_team(user, name: str, team_id: int | None = None):
    """``resolve_profile`` plus, when ``team_id`` is None, the user's personal team from the same query
    (None if they have none yet, or ``team_id`` was given): one query fewer per submission."""
    return _resolve(user, name, team_id, with_personal_team=team_id is None)


def _resolve(user, name: str, team_id: int | None, *, with_personal_team: bool = False):
    candidates, personal = queries.visible_named(user, name, with_personal_team=with_personal_team)
    if team_id is not None:
        candidates = [p for p in candidates if p.team_id in (team_id, None)]
    if not candidates:
        raise NotFound(f"profile {name!r} not found")
    owned = [p for p in candidates if p.team_id is not None]
    if len(owned) > 1:
        teams = ", ".join(sorted(p.team.name for p in owned))
        raise ProfileInvalid(f'profile {name!r} exists in several of your teams ({teams}); say which with "team"')
    return (owned[0] if owned else candidates[0]), personal


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
    """The most qubits a job on ``profile`` may use: the backend's, and for simulators what fits in
    one simulator process (``QPORTAL_SIM_MEMORY_MB``, executors.memory)."""
    if profile.kind in (ProfileKind.LOCAL, ProfileKind.PENNYLANE):
        spec = profile.to_spec()
        by_memory = memory_max_qubits(spec, settings.SIM_MEMORY_BYTES)
        try:
            by_backend = profile.max_qubits or backend_max_qubits(spec)
        except ExecutorError as exc:
            raise ProfileInvalid(str(exc)) from None
        known = [n for n in (by_memory, by_backend) if n]
        return min(known) if known else None
    if profile.max_qubits:
        return profile.max_qubits
    if profile.kind == ProfileKind.FAKE:
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
